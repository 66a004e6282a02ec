//! members API tests.
use crate::support::TestApp;
