//! A positive amount in a currency's minor units.

use campaigns::{Campaign, Currency};

use super::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AmountMinor(i64);

impl AmountMinor {
    /// Parses what a donor typed (`25`, `25.50`) in the campaign's currency and checks the
    /// campaign's limits.
    pub fn parse_for(typed: &str, campaign: &Campaign) -> Result<Self, ValidationError> {
        let currency = campaign.currency;
        let minor = currency.parse_major(typed).map_err(|e| ValidationError(e.to_string()))?;
        if minor < campaign.min_minor {
            return Err(ValidationError(format!(
                "The smallest gift is {} {}.",
                currency.format_major(campaign.min_minor),
                currency.code()
            )));
        }
        if minor > campaign.max_minor {
            return Err(ValidationError(format!(
                "The largest gift online is {} {}; please contact us for larger gifts.",
                currency.format_major(campaign.max_minor),
                currency.code()
            )));
        }
        Ok(Self(minor))
    }

    /// An amount stored or reported by a gateway, already in minor units.
    pub fn parse(minor: i64) -> Result<Self, ValidationError> {
        if minor > 0 { Ok(Self(minor)) } else { Err(ValidationError(format!("{minor} is not a positive amount"))) }
    }

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn display(self, currency: Currency) -> String {
        format!("{} {}", currency.format_major(self.0), currency.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use campaigns::Campaigns;

    fn campaign() -> Campaign {
        let campaigns = Campaigns::from_config_toml(
            "[[campaigns]]\nslug = \"c\"\ncurrency = \"USD\"\ngoal = 1000\nmin_amount = 5\nmax_amount = 500\n",
        )
        .unwrap();
        campaigns.get("c").unwrap().clone()
    }

    #[test]
    fn amounts_outside_the_campaign_limits_are_refused_with_the_limit() {
        let campaign = campaign();
        assert_eq!(AmountMinor::parse_for("25.50", &campaign).unwrap().get(), 2550);
        let small = AmountMinor::parse_for("4.99", &campaign).unwrap_err();
        assert!(small.0.contains("smallest gift is 5 USD"), "{small}");
        let large = AmountMinor::parse_for("500.01", &campaign).unwrap_err();
        assert!(large.0.contains("largest gift online is 500 USD"), "{large}");
        assert!(AmountMinor::parse(0).is_err());
    }
}
