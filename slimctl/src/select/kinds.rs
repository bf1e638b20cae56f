//! Things kept by kind rather than by path (mint's `--include-zoneinfo`, `--include-cert-all`,
//! `--include-workdir`): each kind names the places it lives in across distributions, and those
//! the image has become includes. The rules keep what the app reaches of each already; these keep
//! all of it, for an app whose use of it no run shows (a zone picked by a user, a host reached
//! later).

use crate::image::Image;

/// A kind of thing to keep whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The time-zone database and the local zone.
    Zoneinfo,
    /// Every CA certificate bundle and directory.
    Certs,
    /// The config's working directory (not `/`: that would be the whole image).
    Workdir,
}

const ZONEINFO: &[&str] = &["/usr/share/zoneinfo", "/etc/localtime", "/etc/timezone"];
const CERTS: &[&str] = &[
    "/etc/ssl/certs",
    "/etc/ssl/cert.pem",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
    "/etc/pki/tls/certs",
    "/etc/pki/tls/cert.pem",
    "/etc/pki/ca-trust",
];

/// The paths of `kind` that `image` has.
pub fn paths(image: &Image, kind: Kind) -> Vec<String> {
    let present = |list: &[&str]| -> Vec<String> {
        list.iter().filter(|p| image.index.get(p).is_some()).map(|p| p.to_string()).collect()
    };
    match kind {
        Kind::Zoneinfo => present(ZONEINFO),
        Kind::Certs => present(CERTS),
        Kind::Workdir => {
            let dir = image.config.workdir();
            let dir = dir.trim_end_matches('/');
            if dir.is_empty() || image.index.get(dir).is_none() {
                Vec::new()
            } else {
                vec![dir.to_owned()]
            }
        }
    }
}
