//! Currencies and amounts in minor units: parsing what a person types, formatting for display.
//!
//! Money is always an integer count of the currency's minor unit (cents, fils); the ISO 4217
//! exponent says how many decimal places a person may type. No floating point anywhere.

use std::fmt;

/// An ISO 4217 currency that has minor units (so not a fund or a metal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    iso: iso_currency::Currency,
    exponent: u8,
}

impl Currency {
    /// Accepts a three-letter ISO 4217 code in any case: `usd`, `AED`, `KWD`.
    pub fn parse(code: &str) -> Result<Self, CurrencyError> {
        let upper = code.trim().to_ascii_uppercase();
        let iso = iso_currency::Currency::from_code(&upper).ok_or_else(|| CurrencyError::Unknown(code.to_string()))?;
        let exponent =
            iso.exponent().and_then(|e| u8::try_from(e).ok()).ok_or_else(|| CurrencyError::NotMoney(upper.clone()))?;
        Ok(Self { iso, exponent })
    }

    pub fn code(&self) -> &'static str {
        self.iso.code()
    }

    /// Decimal places of the minor unit: 0 for JPY, 2 for USD and AED, 3 for KWD and BHD.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    pub fn symbol(&self) -> String {
        self.iso.symbol().symbol
    }

    /// Parses an amount in major units as a person types it (`25`, `25.5`, `25.50`, `٢٥`)
    /// into minor units. Rejects zero, negatives, signs, exponents and more decimals than
    /// the currency has.
    pub fn parse_major(&self, typed: &str) -> Result<i64, AmountError> {
        let text: String = typed.trim().chars().map(western_digit).collect();
        if text.is_empty() {
            return Err(AmountError::Empty);
        }
        let (whole, fraction) = match text.split_once(['.', '\u{066B}']) {
            Some((whole, fraction)) => (whole, fraction),
            None => (text.as_str(), ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || !all_digits(fraction) || (whole.is_empty() && fraction.is_empty()) {
            return Err(AmountError::NotANumber(typed.trim().to_string()));
        }
        if fraction.len() > usize::from(self.exponent) {
            return Err(AmountError::TooManyDecimals { currency: self.code(), decimals: self.exponent });
        }
        let scale = 10_i64.pow(u32::from(self.exponent));
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| AmountError::TooLarge)? };
        let padded = format!("{fraction:0<width$}", width = usize::from(self.exponent));
        let fraction: i64 = if padded.is_empty() { 0 } else { padded.parse().map_err(|_| AmountError::TooLarge)? };
        let minor = whole.checked_mul(scale).and_then(|w| w.checked_add(fraction)).ok_or(AmountError::TooLarge)?;
        if minor == 0 {
            return Err(AmountError::Zero);
        }
        Ok(minor)
    }

    /// Formats minor units as major units without grouping: `2550` USD → `25.50`, `2500` → `25`.
    /// Whole amounts drop their zero decimals, which is how people write suggested gifts.
    pub fn format_major(&self, minor: i64) -> String {
        let scale = 10_i64.pow(u32::from(self.exponent));
        let sign = if minor < 0 { "-" } else { "" };
        let (whole, fraction) = (minor.unsigned_abs() / scale as u64, minor.unsigned_abs() % scale as u64);
        if fraction == 0 {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}.{fraction:0width$}", width = usize::from(self.exponent))
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Arabic-Indic and Eastern Arabic-Indic digits become ASCII digits; everything else is kept.
fn western_digit(c: char) -> char {
    match c {
        '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
        '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
        _ => c,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("`{0}` is not an ISO 4217 currency code")]
    Unknown(String),
    #[error("{0} has no minor unit, so it cannot be used for donations")]
    NotMoney(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("Please enter an amount.")]
    Empty,
    #[error("\"{0}\" is not an amount: use digits and at most one decimal point, like 25 or 25.50.")]
    NotANumber(String),
    #[error("{currency} amounts have at most {decimals} decimal places.")]
    TooManyDecimals { currency: &'static str, decimals: u8 },
    #[error("The amount must be more than zero.")]
    Zero,
    #[error("That amount is too large.")]
    TooLarge,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(code: &str, typed: &str) -> Result<i64, AmountError> {
        Currency::parse(code).unwrap().parse_major(typed)
    }

    #[test]
    fn typed_amounts_become_minor_units_in_the_currencys_own_exponent() {
        assert_eq!(minor("USD", "25"), Ok(2500));
        assert_eq!(minor("USD", "25.5"), Ok(2550));
        assert_eq!(minor("USD", " 25.50 "), Ok(2550));
        assert_eq!(minor("USD", ".5"), Ok(50));
        assert_eq!(minor("JPY", "1000"), Ok(1000));
        assert_eq!(minor("KWD", "1.250"), Ok(1250));
        assert_eq!(minor("AED", "٢٥٫٥"), Ok(2550));
    }

    #[test]
    fn bad_amounts_are_refused_with_a_reason() {
        let cases = [
            ("", AmountError::Empty),
            ("abc", AmountError::NotANumber("abc".into())),
            ("-5", AmountError::NotANumber("-5".into())),
            ("1e3", AmountError::NotANumber("1e3".into())),
            ("1,000", AmountError::NotANumber("1,000".into())),
            (".", AmountError::NotANumber(".".into())),
            ("0", AmountError::Zero),
            ("0.00", AmountError::Zero),
            ("25.505", AmountError::TooManyDecimals { currency: "USD", decimals: 2 }),
            ("99999999999999999999", AmountError::TooLarge),
        ];
        for (typed, expected) in cases {
            assert_eq!(minor("USD", typed), Err(expected), "typed {typed:?}");
        }
        assert_eq!(minor("JPY", "10.5"), Err(AmountError::TooManyDecimals { currency: "JPY", decimals: 0 }));
    }

    #[test]
    fn formatting_drops_zero_decimals_only() {
        let usd = Currency::parse("usd").unwrap();
        assert_eq!(usd.format_major(2500), "25");
        assert_eq!(usd.format_major(2550), "25.50");
        assert_eq!(usd.format_major(5), "0.05");
        assert_eq!(Currency::parse("KWD").unwrap().format_major(1250), "1.250");
    }

    #[test]
    fn unknown_and_unit_less_currencies_are_refused() {
        assert!(matches!(Currency::parse("XYZ"), Err(CurrencyError::Unknown(_))));
        assert!(matches!(Currency::parse("XAU"), Err(CurrencyError::NotMoney(_))));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Currencies of every exponent in use: 0 (JPY), 2 (USD), 3 (KWD), 4 (CLF).
        fn currency() -> impl Strategy<Value = Currency> {
            prop::sample::select(vec!["JPY", "USD", "AED", "KWD", "BHD", "CLF"])
                .prop_map(|c| Currency::parse(c).unwrap())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn what_is_formatted_parses_back_to_the_same_minor_units(currency in currency(), minor in 1..=i64::MAX) {
                prop_assert_eq!(currency.parse_major(&currency.format_major(minor)), Ok(minor));
            }

            #[test]
            fn typed_amounts_parse_or_are_refused_and_round_trip(currency in currency(), typed in "[ 0-9.٠-٩٫,+-]{0,24}") {
                if let Ok(minor) = currency.parse_major(&typed) {
                    prop_assert!(minor > 0);
                    prop_assert_eq!(currency.parse_major(&currency.format_major(minor)), Ok(minor));
                }
            }

            #[test]
            fn any_text_parses_without_panicking(currency in currency(), typed in "\\PC{0,40}") {
                let _ = currency.parse_major(&typed);
            }

            #[test]
            fn currency_codes_parse_in_any_case_to_the_same_currency(currency in currency(), lower in any::<bool>()) {
                let code = if lower { currency.code().to_ascii_lowercase() } else { currency.code().to_string() };
                prop_assert_eq!(Currency::parse(&format!(" {code} ")), Ok(currency));
            }
        }
    }
}
