"""Plain helpers for driving admin pages in the browser tests."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

PASSWORD = "a-long-test-password-1"


def wait_for(driver, condition, timeout: float = 30.0, what: str = "the page"):
    """Wait until `condition(driver)` is truthy and return it (Selenium's WebDriverWait)."""
    return WebDriverWait(driver, timeout).until(condition, message=f"timed out waiting for {what}")


def element(driver, css: str, timeout: float = 30.0):
    """The first element matching `css`, once it is visible."""
    return wait_for(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout, css)


def admin_login(driver, base_url: str, username: str, next_path: str = "/admin/") -> None:
    """Log in through the admin's own login form and wait for `next_path` to load."""
    driver.get(f"{base_url}/admin/login/?next={next_path}")
    element(driver, "#id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "user-tools"), what=f"{username} to be logged in")


def stylesheet_rules(driver, filename: str) -> list[int]:
    """The rule count of each loaded stylesheet whose URL ends with `filename`."""
    return driver.execute_script(
        """return [...document.styleSheets]
               .filter(s => s.href && new URL(s.href).pathname.endsWith(arguments[0]))
               .map(s => s.cssRules.length);""",
        filename,
    )


def resources_from_elsewhere(driver, base_url: str) -> list[tuple[str, str]]:
    """(kind, URL) of every resource the page fetched, or tried to, from another origin:
    kind is the Resource Timing initiator type (script, link, css, img, fetch, ...)."""
    entries = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.initiatorType, e.name]);"
    )
    return [(kind, url) for kind, url in entries if not url.startswith(base_url + "/")]
