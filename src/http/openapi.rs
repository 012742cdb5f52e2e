//! The OpenAPI 3.1 description of the public API, served at `/openapi.json`.
//!
//! It is built here from the same configuration as the router (the Instant Signup paths exist
//! only when configured), and `tests/it/openapi.rs` compares it with the router's own table of
//! operations (`http::operations`): every documented operation is routed, every routed one is
//! documented. Schemathesis fuzzes a
//! live bridge against it in CI.

use serde_json::{Value, json};

use crate::config::Config;

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn json_body(schema: &str) -> Value {
    json!({
        "required": true,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

/// Answers every device-facing operation may give besides its own.
fn common(mut responses: Value, authenticated: bool) -> Value {
    let r = responses.as_object_mut().expect("an object");
    r.insert("400".into(), error("Malformed request"));
    r.insert("413".into(), error("Body too large"));
    r.insert("429".into(), error("Rate limited (see Retry-After)"));
    r.insert(
        "503".into(),
        error("Overloaded, out of time, store or upstream unavailable (see Retry-After)"),
    );
    if authenticated {
        r.insert(
            "401".into(),
            error("Missing, invalid or expired access token"),
        );
    }
    responses
}

fn wait_param() -> Value {
    json!({"name": "wait", "in": "query", "required": false,
           "description": "Seconds to wait for the confirmation to settle",
           "schema": {"type": "integer", "minimum": 0, "maximum": 60}})
}

pub fn spec(config: &Config) -> Value {
    let bearer = json!([{"bearer": []}]);
    let mut paths = json!({
        "/roku/sessions": {"post": {
            "summary": "Sign in, register, refresh, or open a session from a Roku purchase",
            "requestBody": json_body("SessionRequest"),
            "responses": common(json!({
                "200": ok("A session", "Session"),
                "404": error("No account linked to this purchase"),
                "409": error("Customer exists, or purchase linked elsewhere"),
                "422": error("Invalid request or receipt"),
                "502": error("The provider refused"),
            }), true),
        }},
        "/roku/sessions/revoke": {"post": {
            "summary": "Sign the customer out on every device",
            "security": bearer,
            "responses": common(json!({"200": ok("Refresh tokens revoked", "Revoked")}), true),
        }},
        "/roku/payment": {"post": {
            "summary": "Forward a Roku receipt after DoOrder and confirm it",
            "security": bearer,
            "parameters": [wait_param()],
            "requestBody": json_body("PaymentRequest"),
            "responses": common(json!({
                "200": ok("Granted", "PaymentStatus"),
                "202": ok("Pending or queued", "PaymentStatus"),
                "403": error("customerEmail is not the signed-in customer's"),
                "409": error("Claimed by another customer, or another product"),
                "422": error("Unknown product or invalid receipt"),
                "502": error("The provider refused the receipt"),
            }), true),
        }},
        "/roku/payment/{purchaseId}": {"get": {
            "summary": "Status of a receipt this customer posted",
            "security": bearer,
            "parameters": [
                {"name": "purchaseId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}},
                wait_param(),
            ],
            "responses": common(json!({
                "200": ok("Granted", "PaymentStatus"),
                "202": ok("Pending or queued", "PaymentStatus"),
                "404": error("No such receipt for this customer"),
                "502": error("The provider refused the receipt"),
            }), true),
        }},
        "/roku/entitlements": {"get": {
            "summary": "Every mapped product's entitlement",
            "security": bearer,
            "responses": common(json!({"200": ok("Entitlements", "EntitlementList")}), true),
        }},
        "/roku/entitlements/{code}": {"get": {
            "summary": "One product's entitlement (cached)",
            "security": bearer,
            "parameters": [{"name": "code", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}],
            "responses": common(json!({
                "200": ok("Entitlement", "Entitlement"),
                "404": error("Unknown product"),
                "422": error("Unknown product"),
            }), true),
        }},
        "/roku/catalog": {"get": {
            "summary": "GetCatalog: the configured products and purchase options",
            "parameters": [{"name": "version", "in": "query", "required": false, "schema": {"const": 2}}],
            "responses": common(json!({"200": ok("GetCatalog's result", "Catalog")}), false),
        }},
        "/roku/catalog/query": {"post": {
            "summary": "QueryPurchaseOptions (its params) over the catalog, the maps sent, or purchases",
            "requestBody": json_body("CatalogQuery"),
            "responses": common(json!({
                "200": ok("Matching purchase options (and purchases)", "PurchaseOptions"),
                "422": error("A reference the maps don't hold"),
            }), true),
        }},
        "/roku/purchases": {"get": {
            "summary": "GetPurchases: what the bridge knows of the customer's purchases",
            "security": bearer,
            "parameters": [
                {"name": "version", "in": "query", "required": false, "schema": {"const": 2}},
                {"name": "includeExpired", "in": "query", "required": false, "schema": {"type": "boolean"}},
            ],
            "responses": common(json!({"200": ok("GetPurchases' result", "Purchases")}), true),
        }},
        "/roku/catalog/upgrade-preview": {"get": {
            "summary": "Estimate of a plan change",
            "security": bearer,
            "parameters": [
                {"name": "from", "in": "query", "required": true, "schema": {"type": "string"}},
                {"name": "to", "in": "query", "required": true, "schema": {"type": "string"}},
            ],
            "responses": common(json!({
                "200": ok("The estimate", "UpgradePreview"),
                "422": error("Unknown SKU"),
            }), true),
        }},
        "/roku/orders/check": {"post": {
            "summary": "Pre-validate DoOrder v2 order items",
            "security": bearer,
            "requestBody": json_body("OrderCheck"),
            "responses": common(json!({"200": ok("Verdict", "OrderVerdict")}), true),
        }},
        "/roku/notifications": {"post": {
            "summary": "Roku Pay push notifications (signed JWS)",
            "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}}}},
            "responses": common(json!({
                "200": {"description": "Stored; the body is the event's responseKey",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
            }), true),
        }},
        "/openapi.json": {"get": {
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }},
    });
    if !config.isu.app_name.is_empty() {
        let isu = |summary: &str, schema: &str| {
            json!({"get": {
                "summary": summary,
                "security": [{"rokuInstantSignup": []}],
                "parameters": [
                    {"name": "locale", "in": "header", "required": false, "schema": {"type": "string"}},
                    {"name": "roku-reserved-email-hash", "in": "header", "required": false, "schema": {"type": "string"}},
                ],
                "responses": common(json!({"200": ok("For Roku's offer card", schema)}), true),
            }})
        };
        let p = paths.as_object_mut().expect("an object");
        p.insert(
            config.isu.images_path.clone(),
            isu("Instant Signup images", "IsuImages"),
        );
        p.insert(
            config.isu.products_path.clone(),
            isu("Instant Signup products", "IsuProducts"),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "roku-bridge",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Roku Pay ↔ subscription provider bridge: device sessions, receipts, entitlements, Roku pushes, Instant Signup and Catalog 2.0.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "rokuInstantSignup": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS512, Roku Pay API key)"},
            },
            "schemas": schemas(),
        },
    })
}

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let nullable_time = json!({"type": ["string", "null"], "format": "date-time"});
    json!({
        "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["code", "message", "requestId"],
                "properties": {"code": string, "message": string, "requestId": string},
            }},
        },
        "SessionRequest": {
            "type": "object",
            "properties": {
                "email": {"type": "string", "maxLength": 254},
                "password": {"type": "string", "maxLength": 1024},
                "register": {"type": "boolean"},
                "firstName": {"type": "string", "maxLength": 100},
                "lastName": {"type": "string", "maxLength": 100},
                "refreshToken": string,
                "purchaseId": string,
            },
        },
        "Session": {
            "type": "object", "required": ["accessToken", "refreshToken", "expiresIn", "customer"],
            "properties": {
                "accessToken": string, "refreshToken": string,
                "expiresIn": {"type": "integer"},
                "customer": {"type": "object", "required": ["id", "email"],
                             "properties": {"id": string, "email": string}},
            },
        },
        "Revoked": {"type": "object", "required": ["revoked"], "properties": {"revoked": {"type": "integer"}}},
        "Price": {
            "description": "A number, or the ChannelStore's localized text (\"$4.99\", \"4,99 €\"); zero or more",
            "oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "minLength": 1}],
        },
        "PaymentRequest": {
            "type": "object",
            "description": "`order` (Cleeng's receipt body) or DoOrder v2's `purchases`",
            "properties": {
                "purchases": {"type": "array", "minItems": 1, "maxItems": 10, "items": {
                    "type": "object", "required": ["purchaseId", "sku"],
                    "properties": {
                        "purchaseId": {"type": "string", "minLength": 1, "maxLength": 1024},
                        "sku": {"type": "string", "minLength": 1},
                        "amount": {"$ref": "#/components/schemas/Price"},
                        "total": {"$ref": "#/components/schemas/Price"},
                        "qty": {"type": "integer", "minimum": 1},
                        "type": {"type": "string", "description": "MonthlySub, Consumable, …"},
                        "rokuCustomerId": string,
                        "name": string,
                        "description": string,
                        "replacedPurchase": {"type": "object", "properties": {"sku": string}},
                    },
                }},
                "order": {"type": "object", "required": ["purchaseId", "code", "amount", "total"],
                          "properties": {
                              "purchaseId": {"type": "string", "minLength": 1, "maxLength": 1024},
                              "code": {"type": "string", "minLength": 1},
                              "amount": {"$ref": "#/components/schemas/Price"},
                              "total": {"$ref": "#/components/schemas/Price"},
                              "qty": {"type": "integer", "minimum": 1, "default": 1},
                              "productType": string,
                              "rokuCustomerId": string,
                          }},
                "ipAddress": string,
                "customerEmail": string,
            },
        },
        "PaymentStatus": {
            "type": "object", "required": ["purchaseId", "offerId", "code", "status"],
            "properties": {
                "purchaseId": string, "offerId": string, "code": string,
                "status": {"enum": ["granted", "pending", "queued"]},
                "expiresAt": nullable_time,
                "retryAfter": {"type": "integer"},
                "statusUrl": string,
                "offers": {"type": "array", "items": {"type": "object", "properties": {"offerId": string, "status": string}}},
            },
        },
        "Entitlement": {
            "type": "object", "required": ["code", "offerId", "accessGranted", "checkedAt"],
            "properties": {
                "code": string, "offerId": string, "accessGranted": {"type": "boolean"},
                "expiresAt": nullable_time, "checkedAt": nullable_time, "stale": {"type": "boolean"},
            },
        },
        "EntitlementList": {
            "type": "object", "required": ["entitlements"],
            "properties": {"entitlements": {"type": "array", "items": {"$ref": "#/components/schemas/Entitlement"}}},
        },
        "CatalogQuery": {
            "type": "object",
            "properties": {
                "query": {"type": "array", "items": {"type": "object"}},
                "purchaseOptionsMap": {"type": "object"}, "productsMap": {"type": "object"},
                "purchasesMap": {"type": "object"}, "version": {"const": 2},
            },
        },
        "Catalog": {
            "type": "object", "required": ["products", "productsMap", "purchaseOptions", "purchaseOptionsMap"],
            "properties": {
                "products": {"type": "array", "items": {"type": "object"}},
                "productsMap": {"type": "object"},
                "purchaseOptions": {"type": "array", "items": {"type": "object"}},
                "purchaseOptionsMap": {"type": "object"},
            },
        },
        "Purchases": {
            "type": "object", "required": ["purchases", "purchasesMap", "products", "entitlements"],
            "properties": {
                "purchases": {"type": "array", "items": {"type": "object"}},
                "purchasesMap": {"type": "object"},
                "products": {"type": "array", "items": {"type": "object"}},
                "productsMap": {"type": "object"},
                "entitlements": {"type": "array", "items": {"type": "object"}},
            },
        },
        "PurchaseOptions": {
            "type": "object", "required": ["purchaseOptionsMap"],
            "properties": {
                "purchaseOptionsMap": {"type": "object", "additionalProperties": {"type": "object"}},
                "purchasesMap": {"type": "object", "additionalProperties": {"type": "object"}},
            },
        },
        "UpgradePreview": {
            "type": "object", "required": ["kind", "chargeNowCents", "estimate"],
            "properties": {
                "from": string, "to": string, "kind": {"enum": ["upgrade", "downgrade"]},
                "creditCents": {"type": "integer"}, "chargeNowCents": {"type": "integer"},
                "chargeNow": string, "newCycleStartsAt": nullable_time,
                "estimate": {"type": "boolean"}, "note": string,
            },
        },
        "OrderCheck": {
            "type": "object", "required": ["orderItems"],
            "properties": {"version": {"const": 2}, "orderItems": {"type": "array", "minItems": 1, "maxItems": 20, "items": {
                "type": "object", "required": ["sku", "qty"], "additionalProperties": false,
                "properties": {
                    "sku": string, "qty": {"type": "integer", "minimum": 1},
                    "action": {"enum": ["Upgrade", "Downgrade"]},
                    "replacedPurchase": {"type": "object", "required": ["sku"], "additionalProperties": false, "properties": {"sku": string}},
                },
            }}},
        },
        "OrderVerdict": {
            "type": "object", "required": ["ok"],
            "properties": {
                "ok": {"type": "boolean"},
                "violations": {"type": "array", "items": {"type": "object", "required": ["code", "message"],
                               "properties": {"code": string, "message": string, "sku": {"type": ["string", "null"]}}}},
            },
        },
        "IsuImages": {
            "type": "object", "required": ["images", "description"],
            "properties": {"images": {"type": "array", "items": string, "minItems": 5, "maxItems": 15},
                           "description": {"type": "string", "maxLength": 200}},
        },
        "IsuProducts": {
            "type": "object", "required": ["products"],
            "properties": {"products": {"type": "array", "maxItems": 3, "items": {
                "type": "object", "required": ["id", "desc"],
                "properties": {"id": string, "desc": {"type": "string", "maxLength": 100},
                               "name": string, "details": string, "images": {"type": "array", "items": string}},
            }}},
        },
    })
}
