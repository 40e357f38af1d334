//! API tokens: `hhg_` + 32 random bytes (hex) + a checksum (8 hex digits of the SHA-256 of the random part), so
//! a leaked token is recognisable and a mistyped one is refused without a database look-up. Only the SHA-256 of
//! the whole token is stored; the token is shown once, when it is made.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use utoipa::ToSchema;

use hhgitops_engine::db::Database;

use crate::error::{ApiError, ApiResult};

pub const PREFIX: &str = "hhg_";

/// What a token may do. Ordered: `admin` includes `write`, which includes `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub name: String,
    pub scope: Scope,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub state: String,
}

/// A token just made: the only time it is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The token: give it as `Authorization: Bearer …`. It is not shown again.
    pub token: String,
}

/// Who made a request: the token's name and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub scope: Scope,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no token")]
    Missing,
    #[error("malformed token (expected hhg_ followed by 72 hex digits)")]
    Malformed,
    #[error("unknown token")]
    Unknown,
    #[error("token {0:?} has expired")]
    Expired(String),
    #[error("token {0:?} was revoked")]
    Revoked(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn checksum(random_hex: &str) -> String {
    hex::encode(&Sha256::digest(random_hex.as_bytes())[..4])
}

/// Makes a new token string.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    let random = hex::encode(bytes);
    Ok(format!("{PREFIX}{random}{}", checksum(&random)))
}

/// Checks the form and checksum of a token.
pub fn well_formed(token: &str) -> bool {
    let Some(rest) = token.strip_prefix(PREFIX) else {
        return false;
    };
    if rest.len() != 72
        || !rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return false;
    }
    let (random, sum) = rest.split_at(64);
    checksum(random) == sum
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn now() -> String {
    hhgitops_engine::clock::now_rfc3339()
}

/// Parses `30d`, `12h`, `90m`, `3600s` (and plain seconds) into seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'd') => (&s[..i], 86_400),
        (i, 'h') => (&s[..i], 3_600),
        (i, 'm') => (&s[..i], 60),
        (i, 's') => (&s[..i], 1),
        _ => (s, 1),
    };
    let n: u64 = num.parse().ok()?;
    n.checked_mul(mult).filter(|v| *v > 0)
}

fn rfc3339_in(secs: u64) -> Option<String> {
    let t = time::OffsetDateTime::now_utc()
        .checked_add(time::Duration::seconds(secs.try_into().ok()?))?;
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .ok()
}

/// Token records in the database.
#[derive(Debug, Clone)]
pub struct TokenStore {
    db: Database,
}

fn info_from_row(r: &sqlx::any::AnyRow) -> Result<TokenInfo, sqlx::Error> {
    let scope: String = r.try_get("scope")?;
    let expires_at: Option<String> = r.try_get("expires_at")?;
    let revoked_at: Option<String> = r.try_get("revoked_at")?;
    let now = now();
    let state = if revoked_at.is_some() {
        "revoked"
    } else if expires_at.as_deref().is_some_and(|e| e <= now.as_str()) {
        "expired"
    } else {
        "active"
    };
    Ok(TokenInfo {
        name: r.try_get("name")?,
        scope: Scope::parse(&scope).unwrap_or(Scope::Read),
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        expires_at,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at,
        state: state.into(),
    })
}

/// A token name: 1-63 of letters, digits, `-`, `_`, `.`, and none of the server's own actors.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !hhgitops_engine::actor::SERVER_ACTORS.contains(&name)
}

impl TokenStore {
    pub fn new(db: Database) -> Self {
        TokenStore { db }
    }

    /// Makes a token. `expires`: a duration such as `30d`.
    pub async fn create(
        &self,
        name: &str,
        scope: Scope,
        expires: Option<&str>,
        created_by: &str,
    ) -> ApiResult<NewToken> {
        if !valid_name(name) {
            return Err(ApiError::invalid(format!(
                "invalid token name {name:?}: use 1-63 letters, digits, '-', '_' or '.' (watcher, webhook and scheduler are reserved)"
            )));
        }
        let expires_at = match expires {
            None => None,
            Some(e) => Some(parse_duration(e).and_then(rfc3339_in).ok_or_else(|| {
                ApiError::invalid(format!("invalid expiry {e:?}: use e.g. 30d, 12h, 90m"))
            })?),
        };
        let token = generate().map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
        let created_at = now();
        sqlx::query(
            "INSERT INTO api_tokens (name, scope, sha256, created_at, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name)
        .bind(scope.as_str())
        .bind(hash(&token))
        .bind(&created_at)
        .bind(created_by)
        .bind(&expires_at)
        .execute(self.db.pool())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                ApiError::conflict(format!("a token named {name:?} exists already"))
            }
            _ => ApiError::from(e),
        })?;
        Ok(NewToken {
            info: TokenInfo {
                name: name.into(),
                scope,
                created_at,
                created_by: created_by.into(),
                expires_at,
                last_used_at: None,
                revoked_at: None,
                state: "active".into(),
            },
            token,
        })
    }

    pub async fn list(&self) -> Result<Vec<TokenInfo>, sqlx::Error> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY name")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(info_from_row).collect()
    }

    /// Revokes a token (it stays listed, as revoked). False when there is no such token.
    pub async fn revoke(&self, name: &str) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(name)
        .execute(self.db.pool())
        .await?;
        if r.rows_affected() > 0 {
            return Ok(true);
        }
        let exists = sqlx::query("SELECT name FROM api_tokens WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(exists.is_some())
    }

    /// Checks a presented token and notes its use (at most once a minute per token).
    pub async fn authenticate(&self, token: &str) -> Result<Principal, TokenError> {
        if !well_formed(token) {
            return Err(TokenError::Malformed);
        }
        let row = sqlx::query("SELECT * FROM api_tokens WHERE sha256 = $1")
            .bind(hash(token))
            .fetch_optional(self.db.pool())
            .await?;
        let Some(row) = row else {
            return Err(TokenError::Unknown);
        };
        let info = info_from_row(&row)?;
        match info.state.as_str() {
            "revoked" => return Err(TokenError::Revoked(info.name)),
            "expired" => return Err(TokenError::Expired(info.name)),
            _ => {}
        }
        let now = now();
        let stale = info
            .last_used_at
            .as_deref()
            .is_none_or(|t| t.get(..16) != now.get(..16));
        if stale {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE name = $2")
                .bind(&now)
                .bind(&info.name)
                .execute(self.db.pool())
                .await?;
        }
        Ok(Principal {
            name: info.name,
            scope: info.scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_checksum() {
        let t = generate().unwrap();
        assert!(t.starts_with("hhg_"));
        assert_eq!(t.len(), 4 + 72);
        assert!(well_formed(&t));
        // One digit changed: the checksum no longer matches.
        let mut bad = t.clone().into_bytes();
        bad[10] = if bad[10] == b'0' { b'1' } else { b'0' };
        assert!(!well_formed(std::str::from_utf8(&bad).unwrap()));
        assert!(!well_formed("hhg_short"));
        assert!(!well_formed(&t.replace("hhg_", "xxx_")));
        assert_ne!(generate().unwrap(), t);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Some(30 * 86_400));
        assert_eq!(parse_duration("2h"), Some(7_200));
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("0d"), None);
        assert_eq!(parse_duration("x"), None);
    }
}
