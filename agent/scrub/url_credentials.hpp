#pragma once
// Passwords inside URLs (postgres://user:SECRET@host/db, https://u:p@proxy:3128): whatever the
// key, a string value may carry one, so every value that leaves the agent is looked at.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tailgate::scrub {

/// What a URL's password becomes: "postgres://u:REDACTED@h/db". A fixed text, not a hash:
/// passwords are not something to group traces by.
inline constexpr std::string_view kRedactedPassword = "REDACTED";

/// Cheap test, no allocation: whether `text` may hold scheme://user:password@ at all.
[[nodiscard]] bool may_hold_url_credentials(std::string_view text) noexcept;

/// Replaces the password of every scheme://user:password@host in `text` by kRedactedPassword;
/// returns how many it replaced. The user stays (it tells which account, not how to log in).
std::size_t redact_url_credentials(std::string& text);

/// `text` with its URL passwords redacted, or nothing if it holds none.
[[nodiscard]] std::optional<std::string> without_url_credentials(std::string_view text);

}  // namespace tailgate::scrub
