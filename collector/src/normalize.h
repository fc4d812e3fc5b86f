// Private normalization helpers shared by the parsers: identity claims,
// outcomes, HTTP status, enumerations, event ids.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "cmkwatch/common/event.h"
#include "json_access.h"

namespace cmkwatch::collector::internal {

// Reads an identity claims object (Activity Log identity.claims, Key Vault
// identity.claim, Event Grid data.claims) in short or URI form into `actor`.
// Fields already set are kept (a more specific source wins).
void ReadClaims(od::object claims, Actor& actor);
// Applies one claim; returns false when the name is not an identity claim.
bool ApplyClaim(std::string_view name, std::string_view value, Actor& actor);

// "Started"/"Start", "Accepted"/"Accept", "Succeeded"/"Success",
// "Failed"/"Failure" (any case) → Outcome.
Outcome OutcomeFromText(std::string_view text);
// HTTP status from a status code text ("403"), a reason name ("Forbidden",
// "NotFound") or an Activity Log resultSignature ("Failed.Forbidden",
// "Succeeded.OK"); 0 when unknown.
int HttpStatusFromText(std::string_view text);
// Outcome implied by an HTTP status (2xx succeeded, 202 accepted, ≥400 failed).
Outcome OutcomeFromHttp(int status);

// The documented spelling of an enumeration value, matched case-insensitively
// ("deny" → "Deny"); the value as sent when it is none of them.
std::string CanonicalEnum(std::string_view value, std::initializer_list<std::string_view> spellings);

// Canonical spellings used across parsers.
std::string CanonicalKty(std::string_view kty);
std::string CanonicalIdentityType(std::string_view type);
std::string CanonicalKeySource(std::string_view source);

// "<source>:" + 32 hex digits of XXH3-128 over the record with whitespace
// outside strings removed (so pretty-printed and one-line copies of a record
// share an id). `compact` promises there is no such whitespace (the framer
// knows), which skips the minify pass.
std::string HashEventId(Source source, std::string_view record, bool compact = false);

// Trims, lower-cases and sorts/uniques a permission list in place.
void NormalizePermissions(std::vector<std::string>& perms);

// Sets event.resource_id (canonical) and resource_kind from a raw id.
void SetResource(Event& event, std::string_view raw_id);

// For a Key Vault data-plane URI in the event (properties.id, requestUri,
// Event Grid data.Id), fills event.key; for key URIs also moves the event's
// resource to the key ("<vault id>/keys/<name>"). `vault_id` is the vault's
// canonical ARM id when known.
void ApplyKeyUri(Event& event, std::string_view uri, std::string_view vault_id);

}  // namespace cmkwatch::collector::internal
