//! The markets file: the tokens and pools to watch, and the flash-loan reserves a live
//! flash-loan bot borrows from.

use super::*;

/// A token of the markets file (decimals come from its mint account).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketToken {
    /// Symbol the bot configs use.
    pub symbol: String,
    /// Mint address.
    pub mint: String,
    /// Reference USD price for sizing and accounting.
    pub usd: f64,
}

/// What a Solana feed watches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Markets {
    /// The tokens configs may name.
    pub tokens: Vec<MarketToken>,
    /// Pool account addresses (Raydium AMM v4, Raydium CP-Swap, Orca Whirlpool).
    pub pools: Vec<String>,
    /// Reserves live flash-loan routes borrow from.
    #[serde(default)]
    pub flash_loans: Vec<MarketFlashLoan>,
}

/// A lending reserve of the markets file (`flash_loans`), by its accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketFlashLoan {
    /// `solend` or `kamino`.
    pub provider: String,
    /// The borrowed mint.
    pub mint: String,
    /// The lending market.
    pub lending_market: String,
    /// The reserve.
    pub reserve: String,
    /// The reserve's liquidity supply token account.
    pub liquidity_supply: String,
    /// The reserve's fee receiver token account.
    pub fee_receiver: String,
    /// The mint's token program (default SPL Token).
    #[serde(default)]
    pub token_program: Option<String>,
}

/// The config's name of a flash-loan provider.
pub fn provider_name(p: sniperforge_engine::swap_ix::FlashProvider) -> &'static str {
    match p {
        sniperforge_engine::swap_ix::FlashProvider::Solend => "solend",
        sniperforge_engine::swap_ix::FlashProvider::Kamino => "kamino",
    }
}

impl Markets {
    /// Reads and checks a markets file.
    pub fn load(path: &Path) -> Result<Self, SolanaError> {
        let err = |e: String| SolanaError::Config(format!("markets file {}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let markets: Self = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        for (i, t) in markets.tokens.iter().enumerate() {
            t.mint
                .parse::<Pubkey>()
                .map_err(|e| err(format!("tokens[{i}].mint {:?}: {e}", t.mint)))?;
            if !(t.usd.is_finite() && t.usd > 0.0) {
                return Err(err(format!(
                    "tokens[{i}].usd: {} is not a positive price",
                    t.usd
                )));
            }
            if t.symbol.is_empty() || markets.tokens[..i].iter().any(|o| o.symbol == t.symbol) {
                return Err(err(format!(
                    "tokens[{i}].symbol {:?}: empty or named twice",
                    t.symbol
                )));
            }
        }
        for (i, p) in markets.pools.iter().enumerate() {
            p.parse::<Pubkey>()
                .map_err(|e| err(format!("pools[{i}] {p:?}: {e}")))?;
        }
        if markets.pools.is_empty() {
            return Err(err("pools: names no pool".into()));
        }
        markets.flash_reserves().map_err(|e| err(e.to_string()))?;
        Ok(markets)
    }

    /// The flash-loan reserves, checked.
    pub fn flash_reserves(
        &self,
    ) -> Result<Vec<sniperforge_engine::swap_ix::FlashReserve>, FlashReserveError> {
        use sniperforge_engine::swap_ix::{FlashProvider, FlashReserve};
        self.flash_loans
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let key = |field: &'static str, v: &str| -> Result<Pubkey, FlashReserveError> {
                    v.parse().map_err(|source| FlashReserveError::Key {
                        index: i,
                        field,
                        value: v.chars().take(64).collect(),
                        source,
                    })
                };
                Ok(FlashReserve {
                    provider: match f.provider.as_str() {
                        "solend" => FlashProvider::Solend,
                        "kamino" => FlashProvider::Kamino,
                        other => {
                            return Err(FlashReserveError::Provider {
                                index: i,
                                provider: other.chars().take(64).collect(),
                            });
                        }
                    },
                    mint: key("mint", &f.mint)?,
                    lending_market: key("lending_market", &f.lending_market)?,
                    reserve: key("reserve", &f.reserve)?,
                    liquidity_supply: key("liquidity_supply", &f.liquidity_supply)?,
                    fee_receiver: key("fee_receiver", &f.fee_receiver)?,
                    token_program: match &f.token_program {
                        Some(p) => key("token_program", p)?,
                        None => programs::SPL_TOKEN,
                    },
                })
            })
            .collect()
    }

    pub(super) fn mints(&self) -> Vec<Pubkey> {
        self.tokens
            .iter()
            .filter_map(|t| t.mint.parse().ok())
            .collect()
    }

    /// The tokens, with decimals read from their mint accounts among `accounts`.
    pub fn tokens_with_decimals(
        &self,
        accounts: &[AccountUpdate],
    ) -> Result<Vec<Token>, SolanaError> {
        self.tokens
            .iter()
            .map(|t| {
                let mint: Pubkey = t
                    .mint
                    .parse()
                    .map_err(|e| SolanaError::Config(format!("markets: mint {:?}: {e}", t.mint)))?;
                let decimals = accounts
                    .iter()
                    .find(|u| u.pubkey == mint)
                    .and_then(mint_decimals)
                    .ok_or_else(|| {
                        SolanaError::Config(format!(
                            "markets: token {} ({mint}): no SPL mint account found for it",
                            t.symbol
                        ))
                    })?;
                Ok(Token {
                    // Symbols live as long as the process (a handful, read once per start).
                    symbol: Box::leak(t.symbol.clone().into_boxed_str()),
                    mint,
                    decimals,
                    usd: t.usd,
                })
            })
            .collect()
    }
}

/// Decimals of an SPL Token (or Token-2022) mint account: byte 44, after the mint authority
/// (4 + 32) and the supply (8).
pub fn mint_decimals(u: &AccountUpdate) -> Option<u8> {
    let token_program = u.owner == programs::SPL_TOKEN || u.owner == programs::SPL_TOKEN_2022;
    (token_program && u.data.len() >= 82).then(|| u.data[44])
}

/// A `flash_loans` entry of a markets file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlashReserveError {
    /// A field that is not a public key.
    #[error("flash_loans[{index}].{field} {value:?}: {source}")]
    Key {
        /// The entry.
        index: usize,
        /// The field.
        field: &'static str,
        /// Its text (cut to 64 characters).
        value: String,
        /// Why.
        source: sniperforge_engine::pubkey::ParsePubkeyError,
    },
    /// A provider other than solend or kamino.
    #[error("flash_loans[{index}].provider {provider:?}: solend or kamino")]
    Provider {
        /// The entry.
        index: usize,
        /// What it names (cut to 64 characters).
        provider: String,
    },
}
