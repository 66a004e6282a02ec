//! Storage for catalog.
