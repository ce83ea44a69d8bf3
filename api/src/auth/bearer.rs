//! `Authorization: Bearer <token>` against the configured token list.

/// The outcome of a bearer check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerCheck {
    /// A configured token was presented.
    Valid,
    /// No usable credentials; allowed only in the test environment.
    Anonymous,
    /// Credentials missing (and anonymous access is off) or wrong.
    Rejected,
}

/// Checks the `Authorization` header value against `tokens`.
///
/// With `allow_anonymous` (the contracts' test environment) any request passes, but a request
/// that does present a configured token is still reported as `Valid`.
pub fn check(authorization: Option<&str>, tokens: &[String], allow_anonymous: bool) -> BearerCheck {
    let presented = authorization
        .and_then(|v| {
            let v = v.trim();
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    match presented {
        Some(t) if tokens.iter().any(|k| constant_time_eq(k.as_bytes(), t.as_bytes())) => BearerCheck::Valid,
        _ if allow_anonymous => BearerCheck::Anonymous,
        _ => BearerCheck::Rejected,
    }
}

/// Compares without an early exit, so timing does not reveal a token prefix.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let tokens = vec!["dev-token".to_string()];
        let cases = [
            (Some("Bearer dev-token"), false, BearerCheck::Valid),
            (Some("bearer   dev-token "), false, BearerCheck::Valid),
            (Some("Bearer dev-tokenx"), false, BearerCheck::Rejected),
            (Some("Basic dev-token"), false, BearerCheck::Rejected),
            (Some("Bearer"), false, BearerCheck::Rejected),
            (None, false, BearerCheck::Rejected),
            (None, true, BearerCheck::Anonymous),
            (Some("Bearer wrong"), true, BearerCheck::Anonymous),
            (Some("Bearer dev-token"), true, BearerCheck::Valid),
        ];
        for (header, anon, want) in cases {
            assert_eq!(check(header, &tokens, anon), want, "{header:?} anon={anon}");
        }
    }
}
