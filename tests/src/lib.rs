//! Cross-component scenarios live in `tests/`.
