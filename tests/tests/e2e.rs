//! End-to-end tests of sluice: each test starts its own server in-process on `127.0.0.1:0`
//! (harness in `sluice_tests`) and talks to it over real sockets with a raw HTTP/1.1 client.
//!
//! One job per module:
//! - `contract`: the weidu upload contract field by field, downloads (ETag, Range, HEAD), the
//!   contract's own curl example.
//! - `images`: image dimensions and previews (JPEG, PNG, GIF).
//! - `listing`: `GET /weidu/api/v1/files` by task and user.
//! - `auth`: bearer tokens, and refusals answered before the body is read.
//! - `http`: 100-continue, keep-alive, pipelining, HTTP/1.0, chunked bodies, awkward splits.
//! - `bad_input`: malformed and hostile requests, every limit at N and N+1, nothing half-stored.
//! - `file_names`: file names as clients spell them (RFC 5987, case, encodings, path tricks,
//!   control characters, the length limit).
//! - `slow_clients`: stalled bodies and heads, dripping heads, clients that vanish mid-upload.
//! - `ops`: 404/405, `/healthz`, `/metrics`.
//! - `runtime`: the epoll driver, the graceful drain.
//! - `storage`: dedup, a 64 MiB streamed round trip.
//! - `disk_full`: a full disk answers 507, loses nothing, and recovers.

#[path = "e2e/auth.rs"]
mod auth;
#[path = "e2e/bad_input.rs"]
mod bad_input;
#[path = "e2e/contract.rs"]
mod contract;
#[path = "e2e/disk_full.rs"]
mod disk_full;
#[path = "e2e/file_names.rs"]
mod file_names;
#[path = "e2e/http.rs"]
mod http;
#[path = "e2e/images.rs"]
mod images;
#[path = "e2e/listing.rs"]
mod listing;
#[path = "e2e/ops.rs"]
mod ops;
#[path = "e2e/runtime.rs"]
mod runtime;
#[path = "e2e/slow_clients.rs"]
mod slow_clients;
#[path = "e2e/storage.rs"]
mod storage;
