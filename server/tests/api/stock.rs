//! stock API tests.
use crate::support::TestApp;
