//! weidu routes: one path, two methods.

use sluice_engine::http::{Method, RequestHead};

use super::WeiduError;

/// The weidu path.
pub const FILES_PATH: &str = "/weidu/api/v1/files";

/// The weidu endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /weidu/api/v1/files?user_id=&task_id=`
    Upload,
    /// `GET|HEAD /weidu/api/v1/files?task_id=[&user_id=]`
    List,
}

/// Routes a weidu request.
pub fn route(head: &RequestHead) -> Result<Endpoint, WeiduError> {
    match head.method {
        Method::Post => Ok(Endpoint::Upload),
        Method::Get | Method::Head => Ok(Endpoint::List),
        _ => Err(WeiduError::MethodNotAllowed),
    }
}
