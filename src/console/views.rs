//! The console's pages as maud templates: pure functions of what the handlers gathered. maud
//! escapes every interpolated value, so a customer id or an error text cannot become markup.

use std::time::Duration;

use maud::{DOCTYPE, Markup, html};

use super::chart;
use crate::{
    domain::{catalog::Catalog, mapping::ProductMap, subscription::Subscription, time::EpochMs},
    reload::ReloadReport,
    store::{
        OutboxStatus,
        console::{DeliveryRow, PushRow, ReceiptRow},
    },
};

/// Plain, legible, and narrow-screen friendly: tables scroll sideways inside their box.
pub const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232b;background:#f6f7f9}
header{background:#1d2b3a;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:center}
header .brand{font-weight:600;margin-right:.6rem}
header a{color:#cfe0ff;text-decoration:none;padding:.15rem .1rem}
header a.on{color:#fff;border-bottom:2px solid #7fb0ff}
header form{margin-left:auto}
main{max-width:1240px;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.2rem 0 1rem}
h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:.7rem}
.card{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:.6rem .8rem}
.card b{display:block;font-size:1.3rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:.7rem}
figure.chart{margin:0;background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:.6rem .8rem}
.scroll{overflow-x:auto;background:#fff;border:1px solid #dde2e8;border-radius:6px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #eceff3;vertical-align:top}
th{background:#f0f2f5;font-weight:600;white-space:nowrap}
td.err{color:#9b1c1c;max-width:24rem;overflow-wrap:anywhere}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:.3rem 0;max-width:40rem}
.status{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:.85em;font-weight:600}
.status.pending{background:#fff3c4;color:#6b5200}
.status.dead{background:#fde2e2;color:#9b1c1c}
.status.delivered,.status.ok{background:#dcf5e3;color:#17612f}
form.inline{display:inline}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin-bottom:.8rem}
label{display:flex;flex-direction:column;font-size:.85em;gap:.15rem}
input,select,button{font:inherit;padding:.3rem .5rem;border:1px solid #b9c2cc;border-radius:4px;background:#fff}
button{background:#2a6fdb;border-color:#2a6fdb;color:#fff;cursor:pointer}
button.quiet{background:#fff;color:#2a6fdb}
header button{background:transparent;border-color:#7fb0ff;color:#cfe0ff}
.note{background:#eef5ff;border:1px solid #c9dcff;padding:.5rem .8rem;border-radius:6px;margin-bottom:.8rem}
.bad{background:#fdecec;border-color:#f3b9b9}
.signin{max-width:24rem;margin:4rem auto;background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:1.2rem}
.signin input{width:100%}
.pager{margin:.7rem 0}
"#;

/// Which page the navigation marks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Overview,
    Deliveries,
    Pushes,
    Lookup,
    Configuration,
}

const NAV: &[(Page, &str, &str)] = &[
    (Page::Overview, "/console/", "Overview"),
    (Page::Deliveries, "/console/deliveries", "Deliveries"),
    (Page::Pushes, "/console/pushes", "Pushes"),
    (Page::Lookup, "/console/lookup", "Lookup"),
    (Page::Configuration, "/console/config", "Configuration"),
];

fn head(title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · roku-bridge console" }
        link rel="stylesheet" href="/console/console.css";
    }
}

pub fn layout(page: Page, csrf: &str, title: &str, body: Markup) -> Markup {
    html! {
        html lang="en" {
            head { (head(title)) }
            body {
                header {
                    span.brand { "roku-bridge" }
                    @for (p, href, label) in NAV {
                        a href=(href) class=[(*p == page).then_some("on")] { (label) }
                    }
                    form method="post" action="/console/sign-out" {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { "Sign out" }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn sign_in(csrf: &str, refused: bool) -> Markup {
    html! {
        html lang="en" {
            head { (head("Sign in")) }
            body {
                form.signin method="post" action="/console/sign-in" {
                    h1 { "roku-bridge console" }
                    @if refused {
                        p.note.bad id="refused" { "That token is not the console token." }
                    }
                    input type="hidden" name="csrf" value=(csrf);
                    p {
                        label { "Console token"
                            input type="password" name="token" id="token" autocomplete="current-password" required;
                        }
                    }
                    button type="submit" id="sign-in" { "Sign in" }
                }
            }
        }
    }
}

pub fn time(ms: i64) -> String {
    EpochMs(ms).to_rfc3339().unwrap_or_else(|| ms.to_string())
}

pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

fn status(s: OutboxStatus) -> Markup {
    html! { span class=(format!("status {s}")) { (s) } }
}

pub struct Overview {
    pub version: &'static str,
    pub uptime: Duration,
    pub store: &'static str,
    pub provider: &'static str,
    pub store_ok: bool,
    pub draining: bool,
    pub unsettled_receipts: Option<i64>,
    /// (target, pending, dead, delivered)
    pub outbox: Vec<(String, i64, i64, i64)>,
    pub oldest_pending: Option<Duration>,
    pub pushes_per_minute: Vec<i64>,
    pub receipts_per_minute: Vec<i64>,
}

pub fn overview(csrf: &str, o: &Overview) -> Markup {
    let ready = o.store_ok && !o.draining;
    let pending: i64 = o.outbox.iter().map(|t| t.1).sum();
    let dead: i64 = o.outbox.iter().map(|t| t.2).sum();
    let body = html! {
        div.cards {
            div.card { "Readiness" b id="readiness" { @if ready { "ready" } @else { "not ready" } }
                small { "store " (if o.store_ok { "ok" } else { "unreachable" })
                        @if o.draining { ", draining" } } }
            div.card { "Version" b { (o.version) } }
            div.card { "Uptime" b { (age(o.uptime)) } }
            div.card { "Store / provider" b { (o.store) " / " (o.provider) } }
            div.card { "Receipts pending" b { (o.unsettled_receipts.map_or("?".into(), |n| n.to_string())) } }
            div.card { "Outbox pending / dead" b { (pending) " / " (dead) } }
            div.card { "Oldest pending" b { (o.oldest_pending.map_or("none".into(), age)) } }
        }
        h2 { "Last hour" }
        div.charts {
            (chart::bars("Pushes", &o.pushes_per_minute))
            (chart::bars("Receipts", &o.receipts_per_minute))
        }
        h2 { "Outbox by target" }
        div.scroll { table {
            thead { tr { th { "Target" } th { "Pending" } th { "Dead" } th { "Delivered" } th {} } }
            tbody {
                @if o.outbox.is_empty() { tr { td colspan="5" { "Nothing has been queued yet." } } }
                @for (target, pending, dead, delivered) in &o.outbox {
                    tr {
                        td { code { (target) } }
                        td { (pending) } td { (dead) } td { (delivered) }
                        td { a href=(format!("/console/deliveries?target={}", urlencode(target))) { "deliveries" } }
                    }
                }
            }
        } }
    };
    layout(Page::Overview, csrf, "Overview", body)
}

pub struct Deliveries {
    pub rows: Vec<DeliveryRow>,
    pub targets: Vec<String>,
    pub target: Option<String>,
    pub status: Option<OutboxStatus>,
    pub older: Option<i64>,
    pub redriven: Option<u64>,
    pub now_ms: i64,
}

pub fn deliveries(csrf: &str, d: &Deliveries) -> Markup {
    let body = html! {
        @if let Some(n) = d.redriven {
            p.note id="redriven" { "Redriven: " (n) " item(s) queued again." }
        }
        form.filters method="get" action="/console/deliveries" {
            label { "Target"
                select name="target" id="filter-target" {
                    option value="" { "all" }
                    @for t in &d.targets {
                        option value=(t) selected[d.target.as_deref() == Some(t.as_str())] { (t) }
                    }
                }
            }
            label { "Status"
                select name="status" id="filter-status" {
                    option value="" { "all" }
                    @for s in OutboxStatus::ALL {
                        option value=(s.as_str()) selected[d.status == Some(*s)] { (s) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if let Some(target) = &d.target {
            form.inline method="post" action="/console/deliveries/redrive-dead" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="target" value=(target);
                button.quiet type="submit" id="redrive-all" { "Redrive all dead of " (target) }
            }
        }
        div.scroll { table id="deliveries" {
            thead { tr {
                th { "#" } th { "Target" } th { "Kind" } th { "Key" } th { "Status" }
                th { "Attempts" } th { "Last error" } th { "Next attempt" } th { "Created" } th {}
            } }
            tbody {
                @if d.rows.is_empty() { tr { td colspan="10" { "No deliveries match." } } }
                @for r in &d.rows {
                    tr id=(format!("delivery-{}", r.id)) data-status=(r.status) {
                        td { (r.id) }
                        td { code { (r.target) } }
                        td { (r.kind) }
                        td { code { (r.dedupe_key) } }
                        td { (status(r.status)) }
                        td { (r.attempts) }
                        td.err { (r.last_error.as_deref().unwrap_or("")) }
                        td { @match r.status {
                            OutboxStatus::Pending => {
                                @if r.next_attempt_at <= d.now_ms { "due now" }
                                @else { "in " (age(Duration::from_millis((r.next_attempt_at - d.now_ms) as u64))) }
                            }
                            OutboxStatus::Delivered => { "delivered " (r.delivered_at.map(time).unwrap_or_default()) }
                            OutboxStatus::Dead => { "never (dead)" }
                        } }
                        td { (time(r.created_at)) }
                        td { @if r.status == OutboxStatus::Dead {
                            form.inline method="post" action="/console/deliveries/redrive" {
                                input type="hidden" name="csrf" value=(csrf);
                                input type="hidden" name="id" value=(r.id);
                                button type="submit" id=(format!("redrive-{}", r.id)) { "Redrive" }
                            }
                        } }
                    }
                }
            }
        } }
        @if let Some(before) = d.older {
            p.pager { a id="older" href=(page_link(d, before)) { "Older →" } }
        }
    };
    layout(Page::Deliveries, csrf, "Deliveries", body)
}

fn page_link(d: &Deliveries, before: i64) -> String {
    format!(
        "/console/deliveries?target={}&status={}&before={before}",
        urlencode(d.target.as_deref().unwrap_or("")),
        d.status.map(OutboxStatus::as_str).unwrap_or("")
    )
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub struct PushView {
    pub push: PushRow,
    /// The decoded event, emails masked, pretty-printed.
    pub event: Option<String>,
    pub deliveries: Vec<DeliveryRow>,
}

pub fn pushes(csrf: &str, kind: Option<&str>, rows: &[PushView]) -> Markup {
    let body = html! {
        form.filters method="get" action="/console/pushes" {
            label { "Type (message or transaction type)"
                input type="text" name="type" value=(kind.unwrap_or("")) placeholder="e.g. sale";
            }
            button type="submit" { "Filter" }
        }
        div.scroll { table id="pushes" {
            thead { tr {
                th { "Received" } th { "Type" } th { "Transaction" } th { "Roku customer" }
                th { "Product" } th { "Deliveries" } th { "Event" }
            } }
            tbody {
                @if rows.is_empty() { tr { td colspan="7" { "No pushes stored yet." } } }
                @for v in rows {
                    @let p = &v.push;
                    tr id=(format!("push-{}", p.id)) data-transaction=(p.transaction_id.as_deref().unwrap_or("")) {
                        td { (time(p.received_at)) }
                        td { (p.message_type) @if let Some(t) = &p.transaction_type { br; small { (t) } } }
                        td { code { (p.transaction_id.as_deref().unwrap_or("")) } }
                        td { code { (p.roku_customer_id.as_deref().unwrap_or("")) } }
                        td { (p.product_code.as_deref().unwrap_or("")) }
                        td { @for d in &v.deliveries {
                            div { code { (d.target) } " " (status(d.status))
                                  @if d.attempts > 0 { " ×" (d.attempts) } }
                        } }
                        td { @if let Some(e) = &v.event { details { summary { "event" } pre { (e) } } } }
                    }
                }
            }
        } }
    };
    layout(Page::Pushes, csrf, "Pushes", body)
}

pub struct AccountView {
    pub roku_customer_id: String,
    pub customer_id: String,
    pub email: Option<String>,
    pub revealed: bool,
}

pub struct Lookup {
    /// What the query was read as, for the heading; never the raw email.
    pub asked: Option<String>,
    /// The query to put back in the box (empty for an email).
    pub echo: String,
    pub receipts: Vec<(ReceiptRow, Vec<DeliveryRow>)>,
    pub accounts: Vec<AccountView>,
    pub subscriptions: Vec<Subscription>,
    pub hash_known: Option<bool>,
}

impl Lookup {
    /// The form alone, before a query.
    pub fn empty() -> Self {
        Self {
            asked: None,
            echo: String::new(),
            receipts: Vec::new(),
            accounts: Vec::new(),
            subscriptions: Vec::new(),
            hash_known: None,
        }
    }
}

pub fn lookup(csrf: &str, l: &Lookup) -> Markup {
    let body = html! {
        form.filters method="get" action="/console/lookup" {
            label { "purchaseId, Roku customer id, provider customer id or email"
                input type="search" name="q" id="q" value=(l.echo) size="40";
            }
            button type="submit" { "Look up" }
        }
        @if let Some(asked) = &l.asked {
            p.note { "Results for " (asked) "." }
            @if let Some(known) = l.hash_known {
                p { "Email hash " (if known { "is known (Instant Signup)." } else { "is not known." }) }
            }
            h2 { "Account links" }
            div.scroll { table id="accounts" {
                thead { tr { th { "Roku customer" } th { "Provider customer" } th { "Email" } th {} } }
                tbody {
                    @if l.accounts.is_empty() { tr { td colspan="4" { "No account link." } } }
                    @for a in &l.accounts {
                        tr {
                            td { code { (a.roku_customer_id) } }
                            td { code { (a.customer_id) } }
                            td { (a.email.as_deref().unwrap_or("")) }
                            td { @if a.email.is_some() && !a.revealed {
                                form.inline method="post" action="/console/lookup/reveal" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="rcid" value=(a.roku_customer_id);
                                    button.quiet type="submit" { "Reveal email" }
                                }
                            } }
                        }
                    }
                }
            } }
            h2 { "Receipts" }
            div.scroll { table id="receipts" {
                thead { tr { th { "purchaseId" } th { "Customer" } th { "State" } th { "Outcome" }
                             th { "Forward attempts" } th { "Claimed" } th { "Updated" } } }
                tbody {
                    @if l.receipts.is_empty() { tr { td colspan="7" { "No receipts." } } }
                    @for (r, forwards) in &l.receipts {
                        tr {
                            td { code { (r.purchase_id) } }
                            td { code { (r.customer_id) } br; small { (r.roku_customer_id.as_deref().unwrap_or("")) } }
                            td { b { (r.state) } }
                            td { code { (r.outcome_json.as_deref().unwrap_or("")) } }
                            td { @if forwards.is_empty() { "sent directly" }
                                 @for d in forwards { div { (status(d.status)) " ×" (d.attempts)
                                     @if let Some(e) = &d.last_error { " " small { (e) } } } } }
                            td { (time(r.created_at)) }
                            td { (time(r.updated_at)) }
                        }
                    }
                }
            } }
            h2 { "Subscriptions" }
            div.scroll { table id="subscriptions" {
                thead { tr { th { "Roku customer" } th { "Product" } th { "State" } th { "Expires" }
                             th { "Cancelled" } th { "Last transaction" } th { "Last event" } } }
                tbody {
                    @if l.subscriptions.is_empty() { tr { td colspan="7" { "No subscriptions." } } }
                    @for s in &l.subscriptions {
                        tr {
                            td { code { (s.roku_customer_id) } }
                            td { (s.product_code) }
                            td { b { (s.state.as_str()) } }
                            td { (s.expires_at.map(|t| time(t.0)).unwrap_or_default()) }
                            td { (s.cancelled_at.map(|t| time(t.0)).unwrap_or_default()) }
                            td { code { (s.last_transaction_id.as_deref().unwrap_or("")) } }
                            td { (time(s.last_event_at.0)) }
                        }
                    }
                }
            } }
        }
    };
    layout(Page::Lookup, csrf, "Lookup", body)
}

pub struct Configuration<'a> {
    pub mapping: &'a ProductMap,
    pub catalog: &'a Catalog,
    pub last_reload: Option<ReloadReport>,
    pub source: Option<String>,
    /// What `check-config` says of the file now.
    pub check: Result<String, String>,
}

pub fn configuration(csrf: &str, c: &Configuration<'_>) -> Markup {
    let body = html! {
        h2 { "check-config, now" }
        @match &c.check {
            Ok(text) => { p.note id="check-config" { (text) } }
            Err(text) => { div.note.bad id="check-config" { pre { (text) } } }
        }
        h2 { "Last reload" }
        @match &c.last_reload {
            None => { p { "No reload since start" @if let Some(s) = &c.source { " (watching " code { (s) } ")" } "." } }
            Some(r) => {
                p { (time(r.at.0)) " on " (r.trigger) ": "
                    @match &r.result {
                        Ok(()) => { span.status.ok { "applied" } }
                        Err(e) => { span.status.dead { "refused" } pre { (e) } }
                    }
                }
            }
        }
        h2 { "Product mapping" }
        p { "Rule: " code { (c.mapping.rule()) } " — " (c.mapping.rule().explain()) }
        div.scroll { table id="mapping" {
            thead { tr { th { "Roku product code" } th { "Provider offer" } } }
            tbody {
                @for p in c.mapping.products() {
                    tr { td { code { (p.code) } } td { code { (p.offer_id) } } }
                }
            }
        } }
        h2 { "Catalog products" }
        div.scroll { table id="catalog-products" {
            thead { tr { th { "Product" } th { "Name" } th { "Add-on" } th { "Prerequisites" } th { "Exclusivity group" } } }
            tbody {
                @if c.catalog.products().is_empty() { tr { td colspan="5" { "No catalog configured." } } }
                @for p in c.catalog.products() {
                    tr {
                        td { code { (p.product_id) } }
                        td { (p.name) }
                        td { (if p.addon { "yes" } else { "" }) }
                        td { (p.prerequisites.join(", ")) }
                        td { (p.product_exclusivity_group.as_deref().unwrap_or("")) }
                    }
                }
            }
        } }
        h2 { "Purchase options" }
        div.scroll { table id="catalog-options" {
            thead { tr { th { "SKU" } th { "Name" } th { "Type" } th { "Tier" } th { "Phases" } } }
            tbody {
                @for o in c.catalog.purchase_options() {
                    tr {
                        td { code { (o.sku) } }
                        td { (o.name) }
                        td { (format!("{:?}", o.kind)) }
                        td { (o.tier) }
                        td { (o.phases.len()) }
                    }
                }
            }
        } }
    };
    layout(Page::Configuration, csrf, "Configuration", body)
}
