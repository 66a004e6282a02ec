//! The payment providers' clients against local fakes of the providers (from `retail-testkit`)
//! that speak the real wire formats with real cryptography: one test binary.

mod alipay;
mod wechat;
