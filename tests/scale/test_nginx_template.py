"""docs/deploy/nginx.conf.template renders with the documented envsubst command and passes `nginx -t`.

(test_two_instances.py runs the same template in front of two instances.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.deploy import NGINX_TEMPLATE, TEMPLATE_VARIABLES, envsubst
from tests.support.environment import require
from tests.support.nginx import NGINX, Nginx


def test_nginx_template_renders_and_passes_nginx_t(tmp_path: Path) -> None:
    require(os.access(NGINX, os.X_OK), f'nginx ({NGINX})')
    require(shutil.which('openssl') is not None, 'openssl')
    nginx = Nginx(tmp_path, [8001, 8002], port=8443)
    nginx.write_config()
    nginx.check_config()
    site = (tmp_path / 'sites-enabled' / 'chatapp').read_text()
    assert 'server 127.0.0.1:8001 max_fails=1 fail_timeout=10s;' in site
    assert 'hash $chatapp_route consistent;' in site
    if shutil.which('envsubst'):  # the documented command renders exactly what the tests run
        names = ' '.join('${' + name + '}' for name in TEMPLATE_VARIABLES)
        done = subprocess.run(['envsubst', names], input=NGINX_TEMPLATE.read_text(), capture_output=True, text=True,
                              env={**os.environ, **nginx.template_values()}, check=True)
        assert done.stdout == envsubst(NGINX_TEMPLATE.read_text(), nginx.template_values())


