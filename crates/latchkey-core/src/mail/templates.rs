//! The mails' templates: plain text and HTML for each kind, built in, each overridable by a
//! file of the same name in `--mail-templates DIR` (minijinja syntax; HTML templates are
//! escaped automatically). A text template starts with its subject line (`Subject: …`) and a
//! blank line. Every override is rendered once at start with sample values, so a typo or an
//! unknown variable stops the server instead of a mail.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior, Value};

use super::MailKind;

/// The file names a template directory may hold.
pub const TEMPLATE_NAMES: [&str; 10] = [
    "verify_email.txt",
    "verify_email.html",
    "password_reset.txt",
    "password_reset.html",
    "email_change.txt",
    "email_change.html",
    "email_changed.txt",
    "email_changed.html",
    "invitation.txt",
    "invitation.html",
];

fn built_in(name: &str) -> &'static str {
    match name {
        "verify_email.txt" => include_str!("templates/verify_email.txt"),
        "verify_email.html" => include_str!("templates/verify_email.html"),
        "password_reset.txt" => include_str!("templates/password_reset.txt"),
        "password_reset.html" => include_str!("templates/password_reset.html"),
        "email_change.txt" => include_str!("templates/email_change.txt"),
        "email_change.html" => include_str!("templates/email_change.html"),
        "email_changed.txt" => include_str!("templates/email_changed.txt"),
        "email_changed.html" => include_str!("templates/email_changed.html"),
        "invitation.txt" => include_str!("templates/invitation.txt"),
        "invitation.html" => include_str!("templates/invitation.html"),
        _ => "",
    }
}

/// The template sources in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    sources: BTreeMap<&'static str, String>,
    /// Which ones came from the directory.
    overridden: Vec<&'static str>,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Templates {
    pub fn built_in() -> Self {
        Templates {
            sources: TEMPLATE_NAMES
                .iter()
                .map(|n| (*n, built_in(n).to_owned()))
                .collect(),
            overridden: Vec::new(),
        }
    }

    /// The built-in templates, with those `dir` has replaced; each checked by rendering it.
    pub fn load(dir: &Path) -> Result<Self, String> {
        if !dir.is_dir() {
            return Err(format!(
                "mail templates: {} is not a directory",
                dir.display()
            ));
        }
        let mut t = Self::built_in();
        let known: Vec<String> = TEMPLATE_NAMES.iter().map(|n| n.to_string()).collect();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("mail templates: cannot read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name.ends_with(".txt") || name.ends_with(".html")) && !known.contains(&name) {
                return Err(format!(
                    "mail templates: unknown template {name} in {} (known: {})",
                    dir.display(),
                    TEMPLATE_NAMES.join(", ")
                ));
            }
        }
        for name in TEMPLATE_NAMES {
            let path = dir.join(name);
            if path.exists() {
                let src = std::fs::read_to_string(&path)
                    .map_err(|e| format!("mail templates: cannot read {}: {e}", path.display()))?;
                t.sources.insert(name, src);
                t.overridden.push(name);
            }
        }
        for kind in MailKind::ALL {
            t.render(kind, &sample())
                .map_err(|e| format!("mail templates ({}): {e}", dir.display()))?;
        }
        Ok(t)
    }

    /// The names taken from the directory.
    pub fn overridden(&self) -> &[&'static str] {
        &self.overridden
    }

    /// Renders `kind` with `vars`.
    pub fn render(
        &self,
        kind: MailKind,
        vars: &BTreeMap<&str, String>,
    ) -> Result<Rendered, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let ctx = Value::from(
            vars.iter()
                .map(|(k, v)| (k.to_string(), Value::from(v.as_str())))
                .collect::<BTreeMap<String, Value>>(),
        );
        let txt_name = format!("{}.txt", kind.as_str());
        let html_name = format!("{}.html", kind.as_str());
        let get = |n: &str| self.sources.get(n).map(String::as_str).unwrap_or("");
        let text = env
            .render_named_str(&txt_name, get(&txt_name), &ctx)
            .map_err(|e| format!("{txt_name}: {e}"))?;
        let html = env
            .render_named_str(&html_name, get(&html_name), &ctx)
            .map_err(|e| format!("{html_name}: {e}"))?;
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{txt_name}: the first line must be 'Subject: …'"))?;
        if subject.chars().any(char::is_control) {
            return Err(format!("{txt_name}: the subject holds control characters"));
        }
        Ok(Rendered {
            subject: subject.to_owned(),
            text: rest.trim_start_matches(['\r', '\n']).to_owned(),
            html,
        })
    }
}

/// The values every template can use (all are always set; `new_email` and `link` may be
/// empty where a mail has none).
pub fn sample() -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("product", "Latchkey".to_owned()),
        ("public_url", "https://id.example.com".to_owned()),
        ("username", "ada".to_owned()),
        ("email", "ada@example.com".to_owned()),
        ("new_email", "ada@new.example.com".to_owned()),
        ("link", "https://id.example.com/x?token=t".to_owned()),
        ("token", "t".to_owned()),
        ("expires_in", "30 minutes".to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_template_renders_with_a_subject() {
        let t = Templates::built_in();
        for kind in MailKind::ALL {
            let r = t.render(kind, &sample()).unwrap();
            assert!(!r.subject.is_empty());
            assert!(r.text.contains("Latchkey"), "{kind:?}: {}", r.text);
            assert!(r.html.contains("<html"), "{kind:?}");
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let t = Templates::built_in();
        let mut v = sample();
        v.insert("username", "<b>ada</b>".into());
        let r = t.render(MailKind::PasswordReset, &v).unwrap();
        assert!(r.html.contains("&lt;b&gt;ada&lt;&#x2f;b&gt;") || r.html.contains("&lt;b&gt;"));
        assert!(!r.html.contains("<b>ada"));
    }
}
