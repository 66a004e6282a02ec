//! sales API tests.
use crate::support::TestApp;
