"""Requests that change state, sent from elsewhere, are refused without a browser: a sibling subdomain, another
site, an opaque origin. (browser/test_cross_site.py: the same from another site's pages in a real browser.)"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from tests.support.servers import App


@pytest.mark.parametrize('headers', [{'Sec-Fetch-Site': 'same-site'}, {'Sec-Fetch-Site': 'cross-site'},
                                     {'Origin': 'https://chat.example.com.evil.example'}, {'Origin': 'null'}])
def test_state_changing_requests_from_elsewhere_are_refused(start_app: Callable[..., App],
                                                            headers: dict[str, str]) -> None:
    """A sibling subdomain is same-site, not same-origin: it is refused too."""
    app = start_app()
    request = urllib.request.Request(app.url + '/logout', data=b'', method='POST', headers=headers)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403 and refused.value.headers.get('Set-Cookie') is None
