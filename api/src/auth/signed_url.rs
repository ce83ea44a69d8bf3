//! Qiniu-style signed download URLs for private buckets (interface.md, "Downloads"):
//! `?e=<unix seconds>&token=<AK>:<b64url(hmac_sha1(SK, url_without_token))>`, where the signed
//! text is `{public_url}{path}?{query before &token=}`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::config::AccessKey;

/// Why a signed URL is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedUrlError {
    /// No `e`/`token` parameters.
    Missing,
    /// The signature does not match any key.
    BadSignature,
    /// `e` is in the past.
    Expired,
}

/// The token for `url_without_token` signed with `key`.
pub fn sign(key: &AccessKey, url_without_token: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key.secret_key.as_bytes()).expect("hmac accepts any key length");
    mac.update(url_without_token.as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes());
    format!("{}:{}", key.access_key, sig)
}

/// Verifies a request to a private object. `raw_query` is the request's query string.
pub fn verify(
    keys: &[AccessKey],
    public_url: &str,
    raw_path: &str,
    raw_query: &str,
    now_secs: u64,
) -> Result<(), SignedUrlError> {
    let Some(pos) =
        raw_query.find("&token=").map(|p| (p, p + 7)).or_else(|| raw_query.strip_prefix("token=").map(|_| (0, 6)))
    else {
        return Err(SignedUrlError::Missing);
    };
    let (cut, token_start) = pos;
    let signed_query = &raw_query[..cut];
    let token = &raw_query[token_start..];
    let expiry = form_e(signed_query).ok_or(SignedUrlError::Missing)?;
    let url = format!("{public_url}{raw_path}?{signed_query}");
    let (ak, _) = token.split_once(':').ok_or(SignedUrlError::BadSignature)?;
    let key = keys.iter().find(|k| k.access_key == ak).ok_or(SignedUrlError::BadSignature)?;
    if !crate::auth::bearer::constant_time_eq(sign(key, &url).as_bytes(), token.as_bytes()) {
        return Err(SignedUrlError::BadSignature);
    }
    if expiry < now_secs {
        return Err(SignedUrlError::Expired);
    }
    Ok(())
}

fn form_e(query: &str) -> Option<u64> {
    query.split('&').find_map(|kv| kv.strip_prefix("e=")).and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let keys = vec![AccessKey { access_key: "ak".into(), secret_key: "sk".into() }];
        let base = "http://127.0.0.1:9004";
        let token = sign(&keys[0], &format!("{base}/files/p/a.txt?e=2000"));
        let q = format!("e=2000&token={token}");
        assert_eq!(verify(&keys, base, "/files/p/a.txt", &q, 1999), Ok(()));
        assert_eq!(verify(&keys, base, "/files/p/a.txt", &q, 2001), Err(SignedUrlError::Expired));
        assert_eq!(verify(&keys, base, "/files/p/b.txt", &q, 1999), Err(SignedUrlError::BadSignature));
        let forged = q.replace("e=2000", "e=9999");
        assert_eq!(verify(&keys, base, "/files/p/a.txt", &forged, 1999), Err(SignedUrlError::BadSignature));
        assert_eq!(verify(&keys, base, "/files/p/a.txt", "", 0), Err(SignedUrlError::Missing));
    }
}
