//! catalog API tests.
use crate::support::TestApp;
