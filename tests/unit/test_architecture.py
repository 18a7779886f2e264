# -*- coding: utf-8 -*-
"""docs/architecture.md matches the code: its tree lists every module_utils file and nothing
else, and its table names, for every module, the package function the module runs."""

import ast
import os
import re

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
DOC = os.path.join(REPO, 'docs', 'architecture.md')
MODULES = os.path.join(REPO, 'plugins', 'modules')
MODULE_UTILS = os.path.join(REPO, 'plugins', 'module_utils')
OWN = 'ansible_collections.kvmcloud.cloud.plugins.module_utils.'


def doc():
    with open(DOC) as handle:
        return handle.read()


def documented_runs():
    """``{module: 'package.file.function'}`` from the table of the document."""
    return dict(re.findall(r'^\| `(\w+)` \| `([\w.]+)` \|$', doc(), re.MULTILINE))


def actual_runs():
    """``{module: 'package.file.function'}`` from each module's main() and its imports."""
    runs = {}
    for name in sorted(os.listdir(MODULES)):
        if not name.endswith('.py'):
            continue
        with open(os.path.join(MODULES, name)) as handle:
            tree = ast.parse(handle.read())
        origin = {alias.asname or alias.name: '%s.%s' % (node.module[len(OWN):], alias.name)
                  for node in tree.body if isinstance(node, ast.ImportFrom) and (node.module or '').startswith(OWN)
                  for alias in node.names}
        main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == 'main')
        function = main.body[0].value.args[0].id
        runs[name[:-3]] = origin[function]
    return runs


def test_the_table_names_the_function_every_module_runs():
    assert documented_runs() == actual_runs()


def test_every_function_of_the_table_exists_where_it_says():
    for module, target in documented_runs().items():
        package, filename, function = target.split('.')
        with open(os.path.join(MODULE_UTILS, package, filename + '.py')) as handle:
            tree = ast.parse(handle.read())
        assert function in [node.name for node in tree.body if isinstance(node, ast.FunctionDef)], (module, target)


def test_the_tree_lists_every_module_utils_file_and_nothing_else():
    text = doc()
    tree = text[text.index('plugins/module_utils/\n'):text.index('```', text.index('plugins/module_utils/\n'))]
    listed, package = set(), None
    for line in tree.splitlines()[1:]:
        match = re.match(r'^[├└]── (\w+)/', line)
        if match:
            package = match.group(1)
            continue
        match = re.match(r'^│?\s+[├└]── (\w+\.py)', line)
        if match:
            listed.add('%s/%s' % (package, match.group(1)))
    present = {'%s/%s' % (pkg, name) for pkg in os.listdir(MODULE_UTILS)
               if os.path.isdir(os.path.join(MODULE_UTILS, pkg))
               for name in os.listdir(os.path.join(MODULE_UTILS, pkg))
               if name.endswith('.py') and name != '__init__.py'}
    assert listed == present
