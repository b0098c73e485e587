//! Identifiers that arrive as text: campaign slugs, donation ids, gateway event ids, idempotency
//! keys and page languages.

use campaigns::Campaigns;

use super::ValidationError;

fn token(text: &str, what: &str, max: usize, allowed: impl Fn(u8) -> bool) -> Result<String, ValidationError> {
    let text = text.trim();
    if text.is_empty() || text.len() > max || !text.bytes().all(allowed) {
        return Err(ValidationError(format!("{what} `{}` is not valid", text.chars().take(80).collect::<String>())));
    }
    Ok(text.to_string())
}

/// A campaign's slug, known to exist in the site config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CampaignSlug(String);

impl CampaignSlug {
    pub fn parse(text: &str, campaigns: &Campaigns) -> Result<Self, ValidationError> {
        let slug = text.trim();
        if campaigns.get(slug).is_none() {
            let shown: String = slug.chars().take(64).collect();
            return Err(ValidationError(format!("There is no campaign called \"{shown}\".")));
        }
        Ok(Self(slug.to_string()))
    }

    /// A slug read back from our own database; its campaign may since have left the config.
    pub fn stored(slug: String) -> Self {
        Self(slug)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Our id of a donation: 32 lowercase hex digits, random (a v4 UUID without dashes), so it can
/// travel through gateways as a merchant reference without revealing how many donations exist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DonationId(String);

impl DonationId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let id = token(text, "donation id", 32, |b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))?;
        if id.len() != 32 {
            return Err(ValidationError(format!("donation id `{id}` is not valid")));
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn printable(b: u8) -> bool {
    b.is_ascii_graphic()
}

/// A supporter's share code, as in `/r/{code}`: 3 to 32 of a-z, 0-9 and `-`, case-folded so
/// a code read aloud or retyped still matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReferralCode(String);

impl ReferralCode {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let code = text.trim().to_ascii_lowercase();
        let valid = (3..=32).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !code.starts_with('-')
            && !code.ends_with('-');
        if !valid {
            return Err(ValidationError(
                "A link code is 3 to 32 letters, digits and dashes, like amina-for-water.".into(),
            ));
        }
        Ok(Self(code))
    }

    /// A fresh random code for a supporter who did not choose one.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string()[..10].to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A gateway's id of one notification; a second event with the same id changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayEventId(String);

impl GatewayEventId {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        token(text, "event id", 255, printable).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client's key that makes retrying a donation request safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        token(text, "idempotency key", 255, printable).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name a donor chose to show with their gift: trimmed, single-spaced, at most 60
/// characters, and free of control and bidirectional-override characters (which could make a
/// public list read as something else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 60;

    /// An empty or missing name is no name, not an error.
    pub fn parse(text: Option<&str>) -> Result<Option<Self>, ValidationError> {
        let name = text.unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Ok(None);
        }
        let hidden = |c: char| {
            c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)
        };
        if name.chars().any(hidden) {
            return Err(ValidationError("The name contains characters that cannot be shown.".into()));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError(format!("Please keep the name to {} characters.", Self::MAX_CHARS)));
        }
        Ok(Some(Self(name)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The language of the page a donor came from, so they return to pages in that language.
/// Anything unknown becomes the site's default language rather than an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language(String);

impl Language {
    pub fn parse(text: Option<&str>, campaigns: &Campaigns) -> Self {
        match text.map(str::trim) {
            Some(code) if campaigns.has_language(code) => Self(code.to_string()),
            _ => Self(campaigns.default_language().to_string()),
        }
    }

    /// A language read back from our own database.
    pub fn stored(code: String) -> Self {
        Self(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_identifiers_are_refused() {
        assert!(DonationId::parse(DonationId::generate().as_str()).is_ok());
        for bad in ["", "xyz", "0123456789abcdef0123456789ABCDEF", "0123456789abcdef0123456789abcde"] {
            assert!(DonationId::parse(bad).is_err(), "{bad}");
        }
        assert!(GatewayEventId::parse("evt_123").is_ok());
        assert!(GatewayEventId::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn referral_codes_are_case_folded_or_refused() {
        assert_eq!(ReferralCode::parse(" Amina-For-Water ").unwrap().as_str(), "amina-for-water");
        assert!(ReferralCode::parse(ReferralCode::generate().as_str()).is_ok());
        for bad in ["ab", "-abc", "abc-", "a b c", "abc/def", "abc%2f", &"a".repeat(33), "héllo"] {
            assert!(ReferralCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_are_tidied_or_refused() {
        assert_eq!(DisplayName::parse(Some("  Amina   K. ")).unwrap().unwrap().as_str(), "Amina K.");
        assert_eq!(DisplayName::parse(Some("   ")).unwrap(), None);
        assert_eq!(DisplayName::parse(None).unwrap(), None);
        assert_eq!(DisplayName::parse(Some("أمينة")).unwrap().unwrap().as_str(), "أمينة");
        assert!(DisplayName::parse(Some(&"x".repeat(61))).is_err());
        assert!(DisplayName::parse(Some("evil\u{202E}txt")).is_err());
        assert!(DisplayName::parse(Some("bell\u{7}")).is_err());
    }

    #[test]
    fn unknown_languages_fall_back_to_the_default() {
        let campaigns = Campaigns::from_config_toml("[languages.ar]\n").unwrap();
        assert_eq!(Language::parse(Some("ar"), &campaigns).as_str(), "ar");
        assert_eq!(Language::parse(Some("../x"), &campaigns).as_str(), "en");
        assert_eq!(Language::parse(None, &campaigns).as_str(), "en");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever the text, each `parse` answers; what it accepts it accepts again from
            /// its own text, unchanged.
            #[test]
            fn parsers_accept_what_they_produce(text in "\\PC{0,80}|[ a-f0-9A-Z-]{0,40}") {
                if let Ok(id) = DonationId::parse(&text) {
                    prop_assert_eq!(DonationId::parse(id.as_str()), Ok(id));
                }
                if let Ok(code) = ReferralCode::parse(&text) {
                    prop_assert_eq!(ReferralCode::parse(code.as_str()), Ok(code));
                }
                if let Ok(id) = GatewayEventId::parse(&text) {
                    prop_assert_eq!(GatewayEventId::parse(id.as_str()), Ok(id));
                }
                if let Ok(key) = IdempotencyKey::parse(&text) {
                    prop_assert_eq!(IdempotencyKey::parse(key.as_str()), Ok(key));
                }
                if let Ok(Some(name)) = DisplayName::parse(Some(&text)) {
                    prop_assert!(name.as_str().chars().count() <= DisplayName::MAX_CHARS);
                    prop_assert_eq!(DisplayName::parse(Some(name.as_str())), Ok(Some(name)));
                }
            }

            #[test]
            fn generated_identifiers_parse(_case in 0..8_u8) {
                let id = DonationId::generate();
                prop_assert_eq!(DonationId::parse(id.as_str()), Ok(id));
                let code = ReferralCode::generate();
                prop_assert_eq!(ReferralCode::parse(code.as_str()), Ok(code));
            }

            #[test]
            fn referral_codes_match_however_they_are_cased(code in "[a-z0-9][a-z0-9-]{1,30}[a-z0-9]") {
                let parsed = ReferralCode::parse(&code).unwrap();
                prop_assert_eq!(ReferralCode::parse(&format!(" {} ", code.to_ascii_uppercase())), Ok(parsed));
            }
        }
    }
}
