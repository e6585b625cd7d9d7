//! How to reach Redis.

use std::time::Duration;

use engram_domain::{Error, Result};
use fred::types::config::{ClusterDiscoveryPolicy, Config, Server, ServerConfig};

/// Settings of the Redis hot/warm tier.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port` for a standalone server, or
    /// `redis-cluster://[user:password@]host:port[,host:port…]` (seed
    /// nodes, one set of credentials for all) for a cluster. `:password@`
    /// alone authenticates as the default user.
    pub url: String,
    /// Treat `redis://` seeds as a cluster.
    pub cluster: bool,
    /// Prefix of every key and channel (several engram deployments, or test
    /// runs, can share one Redis).
    pub prefix: String,
    /// Messages kept per conversation.
    pub window: usize,
    /// Time to live of conversation windows (hot).
    pub hot_ttl: Duration,
    /// Time to live of facts (warm).
    pub warm_ttl: Duration,
    /// Longest a Redis command may take before the tier counts as down for
    /// that call (the caller falls back to the cold store).
    pub command_timeout: Duration,
    /// CA certificates (PEM) that sign the servers' certificates, for
    /// `rediss://` (TLS); the system's roots when `None`.
    pub tls_ca: Option<std::path::PathBuf>,
}

impl RedisConfig {
    /// Checks the URL (and the CA file) without connecting.
    pub fn check(&self) -> Result<()> {
        self.fred().map(drop)
    }

    /// The fred configuration for `url`.
    pub(crate) fn fred(&self) -> Result<Config> {
        let bad = |reason: String| Error::invalid("redis_url", reason);
        let shape = "is not redis[s]://HOST:PORT or redis[s]-cluster://HOST:PORT,…";
        let (scheme, rest) = self
            .url
            .split_once("://")
            .ok_or_else(|| bad(shape.into()))?;
        let (cluster, tls) = match scheme {
            "redis" => (self.cluster, false),
            "rediss" => (self.cluster, true),
            "redis-cluster" => (true, false),
            "rediss-cluster" => (true, true),
            other => return Err(bad(format!("{other}:// {shape}"))),
        };
        // Credentials are never quoted back: errors below name hosts only.
        let (credentials, rest) = match rest.rsplit_once('@') {
            Some((credentials, hosts)) => (Some(credentials), hosts),
            None => (None, rest),
        };
        let (username, password) = match credentials.map(|c| c.split_once(':')) {
            None => (None, None),
            Some(Some((user, password))) => (
                (!user.is_empty()).then(|| user.to_owned()),
                Some(password.to_owned()),
            ),
            Some(None) => return Err(bad("credentials must be USER:PASSWORD or :PASSWORD".into())),
        };
        let hosts = rest
            .trim_end_matches('/')
            .split(',')
            .map(|hp| {
                let (host, port) = hp.rsplit_once(':').unwrap_or((hp, "6379"));
                let port = port
                    .parse::<u16>()
                    .map_err(|_| bad(format!("bad port in {hp:?}")))?;
                if host.is_empty() {
                    return Err(bad(format!("missing host in {hp:?}")));
                }
                Ok(Server::new(host, port))
            })
            .collect::<Result<Vec<_>>>()?;
        let server = if cluster {
            ServerConfig::Clustered {
                hosts,
                policy: ClusterDiscoveryPolicy::default(),
            }
        } else {
            match <[Server; 1]>::try_from(hosts) {
                Ok([server]) => ServerConfig::Centralized { server },
                Err(_) => return Err(bad("a standalone Redis takes one HOST:PORT".into())),
            }
        };
        let tls = if tls { Some(self.tls()?) } else { None };
        Ok(Config {
            server,
            username,
            password,
            tls,
            ..Config::default()
        })
    }

    /// rustls for `rediss://`: the servers' certificates checked against
    /// `tls_ca` (or the system's roots), names included.
    fn tls(&self) -> Result<fred::types::config::TlsConfig> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        match &self.tls_ca {
            Some(path) => {
                let bad =
                    |e: String| Error::invalid("redis_tls_ca", format!("{}: {e}", path.display()));
                for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
                    roots
                        .add(cert.map_err(|e| bad(e.to_string()))?)
                        .map_err(|e| bad(e.to_string()))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::invalid("redis_url", e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(fred::types::config::TlsConnector::from(config).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, cluster: bool) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            cluster,
            prefix: "engram".into(),
            window: 50,
            hot_ttl: Duration::from_secs(60),
            warm_ttl: Duration::from_secs(3600),
            command_timeout: Duration::from_millis(500),
            tls_ca: None,
        }
    }

    #[test]
    fn urls() {
        assert!(matches!(
            config("redis://127.0.0.1:6379", false)
                .fred()
                .unwrap()
                .server,
            ServerConfig::Centralized { .. }
        ));
        assert!(matches!(
            config("redis://127.0.0.1:7000", true)
                .fred()
                .unwrap()
                .server,
            ServerConfig::Clustered { .. }
        ));
        match config("redis-cluster://127.0.0.1:7000,127.0.0.1:7001", false)
            .fred()
            .unwrap()
            .server
        {
            ServerConfig::Clustered { hosts, .. } => assert_eq!(hosts.len(), 2),
            other => panic!("{other:?}"),
        }
        let authed = config("redis-cluster://engram:s3:cr@t@h1:7000,h2:7001", false)
            .fred()
            .unwrap();
        assert_eq!(authed.username.as_deref(), Some("engram"));
        assert_eq!(authed.password.as_deref(), Some("s3:cr@t"));
        let default_user = config("redis://:pw@h:6379", false).fred().unwrap();
        assert_eq!(
            (default_user.username, default_user.password.as_deref()),
            (None, Some("pw"))
        );
        let refused = config("redis://secret-password@h:1", false)
            .fred()
            .unwrap_err();
        assert!(!refused.to_string().contains("secret"), "{refused}");
        let refused = config("redis://u:secret@h:notaport", false)
            .fred()
            .unwrap_err();
        assert!(!refused.to_string().contains("secret"), "{refused}");
        assert!(config("http://x:1", false).fred().is_err());
        assert!(config("redis://a:1,b:2", false).fred().is_err());
        assert!(config("redis://a:notaport", false).fred().is_err());
    }
}
