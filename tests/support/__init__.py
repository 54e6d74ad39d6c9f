"""What the tests and the benchmarks (bench/) run on besides the tests themselves, one module a concern:

- environment: what this run may count on (under CI=true, everything), the environment of an app process
- net: free ports, waiting for a server, urllib without proxies or redirects
- logs: the log files of the servers a test uses, shown in its report when it fails
- processes: a server or tool as a subprocess with its log, stopped for sure
- servers: llmock, the paced model (fake_llm.py) and the app (`python -m chatapp`, diag_app.py) as processes
- oidc: the test OpenID Connect provider (tests/oidc) and signing in there
- browser: Debian's Chromium for Playwright
- chat: what a browser does with the chat page, in the words of its data-testid contract
- databases: PostgreSQL and Redis for the tests
- factories: rows made (and read) straight through a `Database`
- other_site: another site on loopback
- crowd, scenario, diag_app, fake_llm: many clients without a browser, a round of load, the app with a
  diagnostics route, a paced OpenAI-protocol server
- deploy, nginx, cluster: the files of docs/deploy, nginx running its template, app instances behind it

Nothing here is a test or a fixture: fixtures live in the conftest.py of the tests that use them.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout
