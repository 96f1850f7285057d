"""Our own schemathesis check, loaded by the fuzz test through SCHEMATHESIS_HOOKS:
every 4xx answer is JSON whose `detail` names the problem."""

import schemathesis

# gunicorn refuses a request line over 8190 bytes before Django sees it (plain text).
ANSWERED_BY_GUNICORN = {414}


@schemathesis.check
def client_errors_are_json_naming_the_problem(ctx, response, case):
    if not 400 <= response.status_code < 500 or response.status_code in ANSWERED_BY_GUNICORN:
        return None
    headers = {name.lower(): values for name, values in response.headers.items()}
    content_type = (headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/json"):
        raise AssertionError(f"{response.status_code} answered with {content_type!r}, not JSON")
    detail = response.json().get("detail")
    if not detail:
        raise AssertionError(f"{response.status_code} body has no `detail` naming the problem: {response.text[:200]}")
    if isinstance(detail, list) and not all(item.get("loc") and item.get("msg") for item in detail):
        raise AssertionError(f"{response.status_code} detail items must each name a `loc` and a `msg`: {detail}")
    return None
