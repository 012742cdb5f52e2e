//! Roku's side: Roku Pay web services, push notification events, WCF dates.
