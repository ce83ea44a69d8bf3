//! The weidu personality: task attachments (contracts/weidu-task-files.md).
//!
//! `POST /weidu/api/v1/files?user_id=&task_id=` stores every multipart part named `files` that
//! carries a file name, makes previews of JPEG/PNG images, and answers 201 with `file_infos`;
//! `GET` on the same path lists a task's files. Objects live in bucket `weidu` under
//! `YYYYMMDD/task/{task_id}/users/{user_id}/{id}/{name}` (UTC date).

pub mod error;
pub mod handlers;
pub mod names;
pub mod routes;
pub mod types;

pub use error::{WeiduError, INSUFFICIENT_STORAGE};
pub use handlers::handle;

/// The bucket weidu files live in.
pub const BUCKET: &str = "weidu";
