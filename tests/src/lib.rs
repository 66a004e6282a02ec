//! Cross-component scenarios (server, POS lanes, edge agents) live in `tests/tests/`; this
//! library is empty.
