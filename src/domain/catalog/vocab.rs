//! Roku's Catalog 2.0 enumerations, spelled exactly as the ChannelStore API spells them.
//!
//! Every value is case-sensitive on the device, so deserialization is too: `"monthlySub"` is
//! an unknown value, not a typo to forgive.

use serde::{Deserialize, Serialize};

/// Purchase option `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OptionType {
    Consumable,
    NonConsumable,
    MonthlySub,
    QuarterlySub,
    YearlySub,
    PhysicalGood,
    Shipping,
    Mixed,
}

impl OptionType {
    pub const ALL: [OptionType; 8] = [
        OptionType::Consumable,
        OptionType::NonConsumable,
        OptionType::MonthlySub,
        OptionType::QuarterlySub,
        OptionType::YearlySub,
        OptionType::PhysicalGood,
        OptionType::Shipping,
        OptionType::Mixed,
    ];

    /// How often a subscription type bills; `None` for everything that isn't a subscription.
    pub fn billing_frequency(self) -> Option<BillingFrequency> {
        match self {
            OptionType::MonthlySub => Some(BillingFrequency::Monthly),
            OptionType::QuarterlySub => Some(BillingFrequency::Quarterly),
            OptionType::YearlySub => Some(BillingFrequency::Yearly),
            _ => None,
        }
    }

    /// Length of one billing period in months, for subscriptions.
    pub fn months(self) -> Option<u32> {
        self.billing_frequency().map(BillingFrequency::months)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OptionType::Consumable => "Consumable",
            OptionType::NonConsumable => "NonConsumable",
            OptionType::MonthlySub => "MonthlySub",
            OptionType::QuarterlySub => "QuarterlySub",
            OptionType::YearlySub => "YearlySub",
            OptionType::PhysicalGood => "PhysicalGood",
            OptionType::Shipping => "Shipping",
            OptionType::Mixed => "Mixed",
        }
    }
}

/// `billingPlans[].billingType`. The query table spells the second value `DigitalProducts`
/// while GetCatalog answers `DigitalContent`; both name the same thing, so both are read and
/// the catalog's spelling is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BillingType {
    Subscription,
    #[serde(alias = "DigitalProducts")]
    DigitalContent,
}

/// `phases[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PhaseType {
    FreeTrial,
    ReducedPrice,
    RegularPrice,
}

/// `duration.unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DurationUnit {
    Day,
    Month,
    Quarter,
    Year,
}

/// `{quantity, unit}`: how long a phase or a digital item lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Duration {
    pub quantity: u32,
    pub unit: DurationUnit,
}

/// `phases[].billingFrequency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BillingFrequency {
    Monthly,
    Quarterly,
    Yearly,
}

impl BillingFrequency {
    pub fn months(self) -> u32 {
        match self {
            BillingFrequency::Monthly => 1,
            BillingFrequency::Quarterly => 3,
            BillingFrequency::Yearly => 12,
        }
    }

    /// One billing period as a Roku duration.
    pub fn duration(self) -> Duration {
        let unit = match self {
            BillingFrequency::Monthly => DurationUnit::Month,
            BillingFrequency::Quarterly => DurationUnit::Quarter,
            BillingFrequency::Yearly => DurationUnit::Year,
        };
        Duration { quantity: 1, unit }
    }
}

/// A subscription's `state` in GetPurchases, and the `state` query field.
/// `InactiveMigrated` appears only in the query table; it is accepted there and never produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PurchaseState {
    ActivePaid,
    ActiveFreeTrial,
    ActiveCanceled,
    ActiveInGracePeriod,
    ActivePaused,
    InactiveWaitingActivation,
    InactivePaused,
    InactiveOnHold,
    InactiveMigrated,
    InactiveExpired,
}

impl PurchaseState {
    pub const ALL: [PurchaseState; 10] = [
        PurchaseState::ActivePaid,
        PurchaseState::ActiveFreeTrial,
        PurchaseState::ActiveCanceled,
        PurchaseState::ActiveInGracePeriod,
        PurchaseState::ActivePaused,
        PurchaseState::InactiveWaitingActivation,
        PurchaseState::InactivePaused,
        PurchaseState::InactiveOnHold,
        PurchaseState::InactiveMigrated,
        PurchaseState::InactiveExpired,
    ];

    /// Whether the customer has access in this state.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            PurchaseState::ActivePaid
                | PurchaseState::ActiveFreeTrial
                | PurchaseState::ActiveCanceled
                | PurchaseState::ActiveInGracePeriod
                | PurchaseState::ActivePaused
        )
    }
}

/// `includeProducts` / `compareCost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    Same,
    More,
    Less,
}
