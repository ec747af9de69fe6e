# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""vfrelay.ini(5) agrees with docs/configuration.md: the same keys in the same sections,
the same required keys, defaults and accepted values. The two are written by hand; this
catches the one that was not updated.

    test_man.py DOCS_CONFIGURATION_MD VFRELAY_INI_5_IN
"""

import re
import sys


def norm(s):
    s = re.sub(r'\\f[BIRP]', '', s).replace('\\-', '-').replace('\\(em', '—').replace('`', '')
    return ' '.join(s.split()).rstrip('.')


def from_docs(path):
    """section -> key -> (required, default, accepted) from the markdown tables."""
    out, section = {}, None
    for line in open(path):
        m = re.match(r'^## `\[(vfrelay|relay NAME)\]`', line)
        if m:
            section = m.group(1)
            out[section] = {}
            continue
        if line.startswith('## '):
            section = None
        m = re.match(r'^\| `(\w+)`\s*\|\s*(yes|no)\s*\|([^|]*)\|([^|]*)\|', line)
        if section and m:
            req = m.group(2) == 'yes'
            out[section][m.group(1)] = (req, None if req else norm(m.group(3)),
                                        norm(m.group(4)))
    return out


def from_man(path):
    out, section = {}, None
    lines = open(path).read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r'^\.SS \[(vfrelay|relay NAME)\]$', line)
        if m:
            section = m.group(1)
            out[section] = {}
            continue
        if line.startswith('.SH'):
            section = None
        if section and line == '.TP' and lines[i + 1].startswith('.B '):
            key = lines[i + 1][3:].strip()
            req, dflt, acc = False, None, None
            for body in lines[i + 2:i + 6]:
                if body == 'Required.':
                    req = True
                elif body.startswith('Default: '):
                    dflt = norm(body[len('Default: '):])
                elif body.startswith('Accepted: '):
                    acc = norm(body[len('Accepted: '):])
            out[section][key] = (req, dflt, acc)
    return out


def main():
    docs, man = from_docs(sys.argv[1]), from_man(sys.argv[2])
    problems = []
    if sorted(docs) != ['relay NAME', 'vfrelay'] or sum(len(v) for v in docs.values()) < 15:
        problems.append(f'could not read the key tables of {sys.argv[1]}: {docs}')
    for section in sorted(set(docs) | set(man)):
        d, m = docs.get(section, {}), man.get(section, {})
        for key in sorted(set(d) | set(m)):
            if key not in m:
                problems.append(f'[{section}] {key}: in the docs, not in the man page')
            elif key not in d:
                problems.append(f'[{section}] {key}: in the man page, not in the docs')
            elif d[key] != m[key]:
                problems.append(f'[{section}] {key}: docs say (required, default, accepted) = '
                                f'{d[key]}, man page says {m[key]}')
            else:
                print(f'  ok: [{section}] {key}: {m[key]}')
    for p in problems:
        print('FAIL: ' + p)
    sys.exit(1 if problems else 0)


main()
