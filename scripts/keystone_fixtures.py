#!/usr/bin/env python3
"""Makes the Keystone users, projects and catalog entry that Swift's
functional suite needs with auth_version = 3 (the table at the top of
test/functional/test_access_control.py), over Keystone's plain HTTP API:

  keystone_fixtures.py KEYSTONE_URL ADMIN_PASSWORD users
      domain test-domain; projects test, test2, test5, service (default
      domain) and test4 (test-domain); users tester (admin on test), tester2
      (admin on test2), tester3 (member on test), tester4 (admin on test4),
      tester5 (service on test5), tester6 (ResellerAdmin on test), and
      sofgate's own service user swift (service on service). Passwords:
      testing, testing2, ... and "swift-service" for swift.
  keystone_fixtures.py KEYSTONE_URL ADMIN_PASSWORD endpoint BASE_URL
      service "swift" of type object-store with public, internal and admin
      endpoints BASE_URL/v1/AUTH_%(project_id)s in RegionOne (replacing
      those of an earlier run).

Safe to run again: what exists is reused. Exits non-zero with Keystone's
answer on any failure.
"""
import json
import sys
import urllib.error
import urllib.request

URL, ADMIN_PASSWORD, COMMAND = sys.argv[1].rstrip('/'), sys.argv[2], sys.argv[3]
TIMEOUT = 60


def call(method, path, body=None, token=None, ok=(200, 201, 204)):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header('Accept', 'application/json')
    if data is not None:
        req.add_header('Content-Type', 'application/json')
    if token:
        req.add_header('X-Auth-Token', token)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            text = r.read()
            return r.status, r.headers, json.loads(text) if text else {}
    except urllib.error.HTTPError as e:
        if e.code in ok:
            return e.code, e.headers, {}
        sys.exit('keystone_fixtures: %s %s: %s %s' % (
            method, path, e.code, e.read()[:500].decode(errors='replace')))


def admin_token():
    _, headers, _ = call('POST', '/auth/tokens?nocatalog', {'auth': {
        'identity': {'methods': ['password'], 'password': {'user': {
            'name': 'admin', 'password': ADMIN_PASSWORD,
            'domain': {'id': 'default'}}}},
        'scope': {'project': {'name': 'admin', 'domain': {'id': 'default'}}}}})
    return headers['X-Subject-Token']


def find_or_create(token, kind, name, extra, query=None):
    query = query or '?name=' + name
    _, _, found = call('GET', '/%s%s' % (kind, query), token=token)
    if found[kind]:
        return found[kind][0]['id']
    key = kind[:-1]
    body = dict(extra, name=name)
    _, _, made = call('POST', '/' + kind, {key: body}, token=token)
    return made[key]['id']


def users(token):
    domain = find_or_create(token, 'domains', 'test-domain', {})
    projects = {}
    for name, dom in [('test', 'default'), ('test2', 'default'),
                      ('test4', domain), ('test5', 'default'),
                      ('service', 'default')]:
        projects[name] = find_or_create(
            token, 'projects', name, {'domain_id': dom},
            '?name=%s&domain_id=%s' % (name, dom))
    for name, password, project, role in [
            ('tester', 'testing', 'test', 'admin'),
            ('tester2', 'testing2', 'test2', 'admin'),
            ('tester3', 'testing3', 'test', 'member'),
            ('tester4', 'testing4', 'test4', 'admin'),
            ('tester5', 'testing5', 'test5', 'service'),
            ('tester6', 'testing6', 'test', 'ResellerAdmin'),
            ('swift', 'swift-service', 'service', 'service')]:
        dom = domain if project == 'test4' else 'default'
        user = find_or_create(token, 'users', name, {
            'domain_id': dom, 'password': password,
            'default_project_id': projects[project]},
            '?name=%s&domain_id=%s' % (name, dom))
        role_id = find_or_create(token, 'roles', role, {})
        call('PUT', '/projects/%s/users/%s/roles/%s' % (
            projects[project], user, role_id), token=token)


def endpoint(token, base):
    service = find_or_create(token, 'services', 'swift',
                             {'type': 'object-store'}, '?type=object-store')
    _, _, old = call('GET', '/endpoints?service_id=' + service, token=token)
    for e in old['endpoints']:
        call('DELETE', '/endpoints/' + e['id'], token=token)
    for interface in ('public', 'internal', 'admin'):
        call('POST', '/endpoints', {'endpoint': {
            'service_id': service, 'interface': interface,
            'region_id': 'RegionOne',
            'url': base.rstrip('/') + '/v1/AUTH_%(project_id)s'}},
            token=token)


if __name__ == '__main__':
    t = admin_token()
    if COMMAND == 'users':
        users(t)
    elif COMMAND == 'endpoint':
        endpoint(t, sys.argv[4])
    else:
        sys.exit('keystone_fixtures: unknown command %r' % COMMAND)
