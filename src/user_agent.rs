//! A readable device label from a session's `user_agent`, for the devices
//! page (`auth.my_sessions()`): "Chrome 120 on Windows 10", "Safari 17 on
//! iPhone", "okhttp 4.12.0".
//!
//! Browsers and operating systems are recognised by Project Woothee's
//! dataset (the `woothee` crate, compiled in: no parser to build per
//! backend, microseconds per string). What it does not recognise (HTTP
//! libraries, mobile apps' own agents, bots) is named by the agent's first
//! product token, `name/version`, as RFC 9110 writes it. Pure: no server
//! needed to test it.

use woothee::parser::{Parser, WootheeResult};

/// What a session's device looks like to its user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// The browser or client with its major version ("Chrome 120",
    /// "okhttp 4.12.0"), when known.
    pub browser: Option<String>,
    /// The operating system ("Windows 10", "iOS 17.1", "Android 14",
    /// "macOS", "Linux"), when known.
    pub os: Option<String>,
    /// One line for a list: "browser on platform", either alone, or
    /// "Unknown device"; `None` only when there is no user agent at all.
    pub label: Option<String>,
}

/// Only the start of an agent is read: real ones are a few hundred bytes,
/// and what matters comes first.
const READ_AT_MOST: usize = 1024;
/// The longest name and version taken from an unrecognised agent.
const NAME_AT_MOST: usize = 40;
const VERSION_AT_MOST: usize = 20;
const UNKNOWN: &str = "UNKNOWN";

/// The device `user_agent` describes.
pub fn describe(user_agent: Option<&str>) -> Device {
    let Some(agent) = user_agent.map(|a| prefix(a.trim(), READ_AT_MOST)).filter(|a| !a.is_empty()) else {
        return Device::default();
    };
    let parsed = Parser::new().parse(agent);
    let browser = parsed.as_ref().and_then(browser_of).or_else(|| product(agent));
    let (os, platform) = match parsed.as_ref().and_then(os_of) {
        Some((os, platform)) => (Some(os), Some(platform)),
        None => (None, None),
    };
    let label = match (&browser, &platform) {
        (Some(b), Some(p)) => format!("{b} on {p}"),
        (Some(b), None) => b.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => "Unknown device".to_owned(),
    };
    Device { browser, os, label: Some(label) }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn known(s: &str) -> Option<&str> {
    (!s.is_empty() && s != UNKNOWN).then_some(s)
}

/// A browser Woothee recognised, with its major version. Crawlers and HTTP
/// libraries are left to [`product`], which names them better.
fn browser_of(r: &WootheeResult) -> Option<String> {
    if matches!(r.category, "crawler" | "misc") {
        return None;
    }
    let name = known(r.name)?;
    Some(match known(r.version).map(|v| v.split('.').next().unwrap_or(v)).filter(|v| !v.is_empty()) {
        Some(major) => format!("{name} {major}"),
        None => name.to_owned(),
    })
}

/// The operating system Woothee recognised, and the platform a label names:
/// the device for Apple's phones and tablets ("iPhone"), else the system.
/// Versions are kept where agents still tell them: iOS and Android (Windows
/// names carry theirs); macOS agents all claim 10.15.7, and ChromeOS's is a
/// build number, so those go.
fn os_of(r: &WootheeResult) -> Option<(String, String)> {
    let os = known(r.os)?;
    let version = known(&r.os_version).map(str::to_owned);
    Some(match os {
        "iPhone" | "iPad" | "iPod" => {
            (version.map_or_else(|| "iOS".to_owned(), |v| format!("iOS {v}")), os.to_owned())
        }
        "Android" => {
            let system = version.map_or_else(|| "Android".to_owned(), |v| format!("Android {v}"));
            (system.clone(), system)
        }
        "Mac OSX" | "Mac OS X" => ("macOS".to_owned(), "macOS".to_owned()),
        _ => (os.to_owned(), os.to_owned()),
    })
}

/// The first product token of an agent Woothee did not recognise as a
/// browser: "okhttp/4.12.0" is "okhttp 4.12.0". Only letters, digits and
/// `-._+` are kept, lengths are bounded; `Mozilla` (every browser's first
/// token) names nothing.
fn product(agent: &str) -> Option<String> {
    let token = agent.split(|c: char| c.is_whitespace() || c == '(' || c == ';').find(|t| !t.is_empty())?;
    let (name, version) = token.split_once('/').unwrap_or((token, ""));
    let clean = |s: &str, max: usize| -> String {
        s.chars().filter(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '+')).take(max).collect()
    };
    let (name, version) = (clean(name, NAME_AT_MOST), clean(version, VERSION_AT_MOST));
    if !name.chars().any(char::is_alphanumeric) || name.eq_ignore_ascii_case("mozilla") {
        return None;
    }
    Some(if version.is_empty() { name } else { format!("{name} {version}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(agent: &str) -> String {
        describe(Some(agent)).label.unwrap()
    }

    #[test]
    fn browsers_and_systems() {
        let chrome_windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                              Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(
            describe(Some(chrome_windows)),
            Device {
                browser: Some("Chrome 120".into()),
                os: Some("Windows 10".into()),
                label: Some("Chrome 120 on Windows 10".into())
            }
        );
        let safari_iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 \
                             (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
        assert_eq!(
            describe(Some(safari_iphone)),
            Device {
                browser: Some("Safari 17".into()),
                os: Some("iOS 17.1".into()),
                label: Some("Safari 17 on iPhone".into())
            }
        );
        assert_eq!(label("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"), "Firefox 121 on Linux");
        assert_eq!(
            label(
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/120.0.6099.144 Mobile Safari/537.36"
            ),
            "Chrome 120 on Android 14"
        );
        assert_eq!(
            label(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                 Version/17.1 Safari/605.1.15"
            ),
            "Safari 17 on macOS"
        );
        assert_eq!(
            label(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"
            ),
            "Edge 120 on Windows 10"
        );
        assert_eq!(
            label(
                "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                 CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1"
            ),
            "Chrome 120 on iPad"
        );
    }

    #[test]
    fn clients_that_are_not_browsers_are_named_by_their_product() {
        assert_eq!(describe(Some("okhttp/4.12.0")), Device {
            browser: Some("okhttp 4.12.0".into()),
            os: None,
            label: Some("okhttp 4.12.0".into())
        });
        assert_eq!(label("curl/8.5.0"), "curl 8.5.0");
        assert_eq!(label("supabase-js/2.39.0"), "supabase-js 2.39.0");
        assert_eq!(label("Dart/3.2 (dart:io)"), "Dart 3.2");
        assert_eq!(label("Googlebot/2.1 (+http://www.google.com/bot.html)"), "Googlebot 2.1");
        assert_eq!(label("node-fetch"), "node-fetch");
        // An app's own agent on iOS: its name, and the system Woothee saw.
        assert_eq!(label("MyApp/1.0 CFNetwork/1408.0.4 Darwin/22.5.0"), "MyApp 1.0 on iOS");
    }

    #[test]
    fn nothing_to_go_on() {
        assert_eq!(describe(None), Device::default());
        assert_eq!(describe(Some("")), Device::default());
        assert_eq!(describe(Some("   \t")), Device::default());
        assert_eq!(label("-"), "Unknown device");
        assert_eq!(label("Mozilla/5.0"), "Unknown device");
        assert_eq!(label("\u{1}\u{2} ()"), "Unknown device");
    }

    #[test]
    fn hostile_agents_are_bounded_and_cleaned() {
        let long = "x".repeat(60) + "/" + &"9".repeat(5000);
        assert_eq!(label(&long), format!("{} {}", "x".repeat(NAME_AT_MOST), "9".repeat(VERSION_AT_MOST)));
        // Only the first READ_AT_MOST bytes are read.
        assert_eq!(label(&("x".repeat(5000) + "/1.0")), "x".repeat(NAME_AT_MOST));
        assert_eq!(label("evil<script>/1.0\u{7}"), "evilscript 1.0");
        // A megabyte of multi-byte characters: cut on a character boundary.
        let wide = "é".repeat(1 << 19);
        assert_eq!(label(&wide), "é".repeat(NAME_AT_MOST));
        assert_eq!(label("日本語/1.0"), "日本語 1.0");
    }

    #[test]
    fn prefix_ends_on_a_character() {
        assert_eq!(prefix("abc", 10), "abc");
        assert_eq!(prefix("aé", 2), "a");
        assert_eq!(prefix("aé", 3), "aé");
    }
}
