//! Storage for sales.
