//! Catalog sync wire types (being written).
