#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn text_check_refuses_every_private_form() {
    for bad in [
        "http://acme.api-us1.com",
        "ftp://x",
        "not a url",
        // IPv4
        "https://127.0.0.1:8443",
        "https://acme.api-us1.com@127.0.0.1/",
        "https://127.1",
        "https://2130706433/",
        "https://0x7f.0.0.1/",
        "https://10.0.0.5",
        "https://172.16.0.1",
        "https://192.168.1.1",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1",
        "https://100.127.255.254",
        "https://0.0.0.0",
        "https://255.255.255.255",
        // IPv6
        "https://[::1]/",
        "https://[::]/",
        "https://[::ffff:127.0.0.1]/api/3",
        "https://[::ffff:7f00:1]/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://[::ffff:10.1.2.3]/",
        "https://[::127.0.0.1]/",
        "https://[64:ff9b::127.0.0.1]/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[64:ff9b::c0a8:101]/",
        "https://[64:ff9b:1::1]/",
        "https://[2002:7f00:1::1]/",
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "https://[fe80::1]/",
        "https://[fe80::1%25eth0]/",
        "https://[fd00::1]/",
        "https://[fc00::1]/",
        "https://[fec0::1]/",
        "https://[ff02::1]/",
        // names
        "https://localhost",
        "https://localhost./",
        "https://LOCALHOST:443/",
        "https://api.localhost",
        "https://printer.local",
        "https://metadata.google.internal/",
        "https://router.home.arpa",
    ] {
        assert!(check_url(bad, Policy::STRICT).is_err(), "{bad}");
    }
    for good in [
        "https://acme.api-us1.com",
        "https://acme.api-us1.com/api/3",
        "https://93.184.215.14/",
        "https://100.128.0.1/",
        "https://172.32.0.1/",
        "https://[2606:4700::6810:84e5]/",
        "https://[::ffff:93.184.215.14]/",
        "https://[64:ff9b::93.184.215.14]/",
    ] {
        assert!(check_url(good, Policy::STRICT).is_ok(), "{good}");
    }
    // The operator may allow private targets (tests, demos): http too, but still only http(s).
    assert!(check_url("http://127.0.0.1:9999/api/3", Policy::ALLOW_PRIVATE).is_ok());
    assert!(check_url("https://[::ffff:127.0.0.1]/", Policy::ALLOW_PRIVATE).is_ok());
    assert!(check_url("ftp://127.0.0.1", Policy::ALLOW_PRIVATE).is_err());
}

#[test]
fn errors_say_what_and_why() {
    let e = check_url("https://[::ffff:a9fe:a9fe]/", Policy::STRICT).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("169.254") || text.contains("IPv4-mapped"),
        "{text}"
    );
    assert!(text.contains("not allowed"), "{text}");
    let e = check_url("https://[64:ff9b::7f00:1]/", Policy::STRICT).unwrap_err();
    assert!(e.to_string().contains("NAT64"), "{e}");
}

#[test]
fn classification() {
    let v4 = |s: &str| forbidden_reason(s.parse().unwrap());
    assert_eq!(v4("127.0.0.1"), Some("loopback"));
    assert!(v4("169.254.169.254").unwrap().contains("metadata"));
    assert!(v4("100.64.0.1").unwrap().contains("NAT"));
    assert_eq!(v4("8.8.8.8"), None);
    assert_eq!(v4("::ffff:8.8.8.8"), None);
    assert!(
        v4("::ffff:169.254.169.254")
            .unwrap()
            .contains("IPv4-mapped")
    );
    assert!(v4("64:ff9b::10.0.0.1").unwrap().contains("NAT64"));
    assert_eq!(v4("64:ff9b::8.8.8.8"), None);
    assert_eq!(v4("fd12:3456::1"), Some("unique-local"));
    assert_eq!(v4("2a00:1450:4001::200e"), None);
}

/// A lookup that answers from a fixed table, like a resolver would.
fn table(entries: &'static [(&'static str, &'static [&'static str])]) -> Arc<dyn Lookup> {
    Arc::new(move |host: String| async move {
        entries
            .iter()
            .find(|(name, _)| *name == host)
            .map(|(_, ips)| ips.iter().map(|ip| ip.parse().unwrap()).collect())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
    })
}

const NAMES: &[(&str, &[&str])] = &[
    ("127.0.0.1.nip.io", &["127.0.0.1"]),
    (
        "metadata.example.com",
        &["169.254.169.254", "::ffff:169.254.169.254"],
    ),
    ("mapped.example.com", &["::ffff:127.0.0.1"]),
    ("nat64.example.com", &["64:ff9b::a00:1"]),
    ("cgnat.example.com", &["100.64.1.1"]),
    ("ula.example.com", &["fd00::1", "fe80::1"]),
    ("zero.example.com", &["0.0.0.0", "::"]),
    ("mixed.example.com", &["10.0.0.1", "93.184.215.14", "::1"]),
    (
        "public.example.com",
        &["93.184.215.14", "2606:4700::6810:84e5"],
    ),
];

#[tokio::test]
async fn resolver_drops_forbidden_addresses() {
    let strict = GuardedResolver::new(table(NAMES), Policy::STRICT);
    for host in [
        "127.0.0.1.nip.io",
        "metadata.example.com",
        "mapped.example.com",
        "nat64.example.com",
        "cgnat.example.com",
        "ula.example.com",
        "zero.example.com",
    ] {
        match strict.resolve_host(host).await {
            Err(ResolveError::Refused(r)) => {
                assert_eq!(r.host, host);
                assert!(!r.refused.is_empty());
                let text = r.to_string();
                assert!(
                    text.contains(host) && text.contains("not allowed"),
                    "{text}"
                );
            }
            other => panic!("{host}: {other:?}"),
        }
    }
    // Only the public addresses are kept.
    let kept = strict.resolve_host("mixed.example.com").await.unwrap();
    assert_eq!(kept, vec!["93.184.215.14:0".parse().unwrap()]);
    assert_eq!(
        strict
            .resolve_host("public.example.com")
            .await
            .unwrap()
            .len(),
        2
    );
    // A lookup failure stays a lookup failure (retryable), not a refusal.
    assert!(matches!(
        strict.resolve_host("nxdomain.example.com").await,
        Err(ResolveError::Lookup(_))
    ));
    // Private targets allowed: everything passes.
    let open = GuardedResolver::new(table(NAMES), Policy::ALLOW_PRIVATE);
    assert_eq!(
        open.resolve_host("mixed.example.com").await.unwrap().len(),
        3
    );
    assert_eq!(
        open.resolve_host("127.0.0.1.nip.io").await.unwrap(),
        vec!["127.0.0.1:0".parse().unwrap()]
    );
}

#[tokio::test]
async fn the_system_resolver_is_guarded_too() {
    // `localhost` resolves to loopback through the system resolver on every machine.
    let strict = GuardedResolver::new(Arc::new(SystemLookup), Policy::STRICT);
    assert!(matches!(
        strict.resolve_host("localhost").await,
        Err(ResolveError::Refused(_))
    ));
    let open = GuardedResolver::new(Arc::new(SystemLookup), Policy::ALLOW_PRIVATE);
    assert!(!open.resolve_host("localhost").await.unwrap().is_empty());
}

/// A one-shot HTTP server on 127.0.0.1 answering every request with `response`.
async fn serve(response: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(response.as_bytes()).await;
        }
    });
    port
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
    let port = serve("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
    // The text of the URL is fine (a public-looking name): only the connection can tell.
    let url = format!("https://127.0.0.1.nip.io:{port}/api/3/users/me");
    let client = client_with_lookup(&url, Policy::STRICT, table(NAMES)).unwrap();
    let err = client.get(&url).send().await.unwrap_err();
    let refused = refusal(&err).unwrap_or_else(|| panic!("not a refusal: {err:?}"));
    assert_eq!(refused.host, "127.0.0.1.nip.io");
    assert_eq!(
        refused.refused,
        vec![("127.0.0.1".parse().unwrap(), "loopback")]
    );
    // The same name with private targets allowed reaches the server (over http).
    let url = format!("http://127.0.0.1.nip.io:{port}/api/3/users/me");
    let client = client_with_lookup(&url, Policy::ALLOW_PRIVATE, table(NAMES)).unwrap();
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let port = serve(
        "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    let url = format!("http://127.0.0.1:{port}/");
    let client = client_for(&url, Policy::ALLOW_PRIVATE).unwrap();
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
}

#[test]
fn a_client_is_only_built_for_an_allowed_url() {
    assert!(matches!(
        client_for("https://[::ffff:127.0.0.1]/", Policy::STRICT),
        Err(TargetError::ForbiddenAddress { .. })
    ));
    assert!(client_for("https://acme.api-us1.com/api/3", Policy::STRICT).is_ok());
}
