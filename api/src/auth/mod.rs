//! Authentication schemes shared by personalities. Today: Bearer tokens and Qiniu-style signed
//! download URLs; the upload-token forms (Qiniu/WCS), COS signatures and sessions land with
//! their personalities.

pub mod bearer;
pub mod signed_url;
