//! HTTP basic authentication against `userlist` sections: what `http_auth(<userlist>)`,
//! `http_auth_group(<userlist>)` and `http-request auth` rely on.
//!
//! Passwords are checked as HAProxy checks them: `insecure-password` compared as is,
//! `password` through crypt(3) (every scheme libcrypt knows). A crypt check costs what
//! the scheme costs (SHA-512 with the default 5000 rounds: about a millisecond of the
//! reactor's time), as it does in HAProxy.

use super::Headers;
use crate::config::model::{Password, Userlist};
use crate::sample::conv::b64_decode;

/// The user name and password of an `Authorization: Basic <base64(user:pass)>` header
/// (the first such header; the scheme name is case-insensitive).
pub fn basic_credentials(headers: &Headers) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = headers.get("authorization")?.trim_ascii();
    let space = value.iter().position(|&c| c == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = b64_decode(rest.trim_ascii(), false)?;
    let colon = decoded.iter().position(|&c| c == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Whether `user` exists in `ul` with password `pass`.
pub fn check(ul: &Userlist, user: &[u8], pass: &[u8]) -> bool {
    let Some(u) = ul.users.iter().find(|u| u.name.as_bytes() == user) else {
        return false;
    };
    match &u.password {
        Password::None => false,
        Password::Insecure(p) => constant_time_eq(p.as_bytes(), pass),
        Password::Crypt(hash) => crate::sys::crypt::crypt(pass, hash).is_some_and(|h| constant_time_eq(h.as_bytes(), hash.as_bytes())),
    }
}

/// The user the request authenticates as against `ul` (`http_auth` is true, and
/// `http_auth_group` fetches this name), if any.
pub fn authenticated_user(ul: &Userlist, headers: &Headers) -> Option<String> {
    let (user, pass) = basic_credentials(headers)?;
    check(ul, &user, &pass).then(|| String::from_utf8_lossy(&user).into_owned())
}

/// Whether `user` belongs to one of `groups` in `ul` (`http_auth_group` patterns).
pub fn in_any_group(ul: &Userlist, user: &str, groups: &[&str]) -> bool {
    ul.groups.iter().any(|g| groups.contains(&g.name.as_str()) && g.users.iter().any(|u| u == user))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{User, UserGroup};

    fn userlist() -> Userlist {
        Userlist {
            name: "L1".into(),
            location: None,
            groups: vec![UserGroup { name: "admins".into(), users: vec!["tiger".into()] }],
            users: vec![
                User {
                    name: "tiger".into(),
                    // `openssl passwd -6 -salt saltsalt secret`.
                    password: Password::Crypt("$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1".into()),
                    groups: vec![],
                },
                User { name: "scott".into(), password: Password::Insecure("elgato".into()), groups: vec![] },
                User { name: "nopass".into(), password: Password::None, groups: vec![] },
            ],
        }
    }

    fn auth(value: &str) -> Headers {
        let mut h = Headers::new();
        h.add("Authorization", value.as_bytes());
        h
    }

    #[test]
    fn basic_credentials_are_decoded() {
        // base64("scott:elgato") and base64("a:b:c").
        assert_eq!(basic_credentials(&auth("Basic c2NvdHQ6ZWxnYXRv")), Some((b"scott".to_vec(), b"elgato".to_vec())));
        assert_eq!(basic_credentials(&auth("basic YTpiOmM=")), Some((b"a".to_vec(), b"b:c".to_vec())));
        assert_eq!(basic_credentials(&auth("Bearer c2NvdHQ6ZWxnYXRv")), None);
        assert_eq!(basic_credentials(&auth("Basic !!!")), None);
        assert_eq!(basic_credentials(&Headers::new()), None);
    }

    #[test]
    fn passwords_are_checked_by_kind() {
        let ul = userlist();
        assert!(check(&ul, b"tiger", b"secret"));
        assert!(!check(&ul, b"tiger", b"Secret"));
        assert!(check(&ul, b"scott", b"elgato"));
        assert!(!check(&ul, b"scott", b"elgat"));
        assert!(!check(&ul, b"nopass", b""));
        assert!(!check(&ul, b"nobody", b"x"));
    }

    #[test]
    fn the_authenticated_user_and_its_groups() {
        let ul = userlist();
        // base64("tiger:secret").
        let user = authenticated_user(&ul, &auth("Basic dGlnZXI6c2VjcmV0")).unwrap();
        assert_eq!(user, "tiger");
        assert!(in_any_group(&ul, &user, &["users", "admins"]));
        assert!(!in_any_group(&ul, "scott", &["admins"]));
        assert_eq!(authenticated_user(&ul, &auth("Basic dGlnZXI6d3Jvbmc=")), None);
    }
}
