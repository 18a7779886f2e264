# -*- coding: utf-8 -*-
"""The shape of the collection's code, checked statically: libvirt is called through the
wrapper only, imports go down the layers and are never made inside a function, packages are
empty, files and classes stay small, and a module file only builds the wrapper and runs one
function of its package."""

import ast
import os

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
PLUGINS = os.path.join(REPO, 'plugins')
MODULE_UTILS = os.path.join(PLUGINS, 'module_utils')
OWN = 'ansible_collections.kvmcloud.cloud.plugins.'
WRAPPER = os.path.join(MODULE_UTILS, 'core', 'virt.py')

# What each package of module_utils may import: the packages below it.
LAYERS = {
    'core': set(),
    'storage': {'core'},
    'network': {'core'},
    'image': {'core', 'storage'},
    'hypervisor': {'core', 'storage'},
    'volume': {'core', 'storage', 'image'},
    'compute': {'core', 'storage', 'image', 'volume', 'network', 'hypervisor'},
    'cloud': {'core', 'storage', 'image', 'volume', 'network', 'hypervisor', 'compute'},
    # Beside compute: what the inventory plugin reads of the servers and makes hosts of.
    'inventory': {'core', 'storage', 'image', 'volume', 'network', 'hypervisor', 'compute'},
    # Beside compute: what the servers use, read from the same domains.
    'metering': {'core', 'storage', 'image', 'volume', 'network', 'hypervisor', 'compute'},
}
MAX_FILE_LINES = 400
MAX_CLASS_LINES = 200


def python_files(top):
    for root, _dirs, files in os.walk(top):
        for name in sorted(files):
            if name.endswith('.py'):
                yield os.path.join(root, name)


def tree_of(path):
    with open(path) as handle:
        return ast.parse(handle.read(), path)


def imported_modules(tree):
    """``[(module name, node)]`` of every import in ``tree``, ``from x import y`` as ``x.y`` too."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, node) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, node))
            out.extend(('%s.%s' % (node.module, alias.name), node) for alias in node.names)
    return out


def relative(path):
    return os.path.relpath(path, REPO)


ALL_PLUGIN_FILES = list(python_files(PLUGINS))
MODULE_UTILS_FILES = [p for p in ALL_PLUGIN_FILES if p.startswith(MODULE_UTILS + os.sep)]


@pytest.mark.parametrize('path', ALL_PLUGIN_FILES, ids=relative)
def test_only_the_wrapper_imports_libvirt(path):
    if path == WRAPPER:
        return
    names = [name for name, _node in imported_modules(tree_of(path))]
    assert not [n for n in names if n == 'libvirt' or n.startswith('libvirt.')], \
        '%s imports libvirt; call it through core/virt.py' % relative(path)


@pytest.mark.parametrize('path', ALL_PLUGIN_FILES, ids=relative)
def test_nothing_reaches_behind_the_wrapper_for_a_bare_libvirt_object(path):
    if path == WRAPPER:
        return
    bare = [node.lineno for node in ast.walk(tree_of(path))
            if isinstance(node, ast.Attribute) and node.attr in ('_raw', '_hypervisor')]
    assert not bare, '%s uses a wrapped object\'s bare libvirt object at lines %s' % (relative(path), bare)


@pytest.mark.parametrize('path', ALL_PLUGIN_FILES, ids=relative)
def test_the_collections_own_code_is_never_imported_inside_a_function(path):
    late = []
    for func in ast.walk(tree_of(path)):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            late.extend(node.lineno for name, node in imported_modules(func) if name.startswith(OWN))
    assert not late, '%s imports the collection\'s code inside a function at lines %s' % (relative(path), late)


@pytest.mark.parametrize('path', MODULE_UTILS_FILES, ids=relative)
def test_imports_only_go_down_the_layers(path):
    package = os.path.relpath(path, MODULE_UTILS).split(os.sep)[0]
    assert package in LAYERS, '%s is in no package of module_utils' % relative(path)
    allowed = LAYERS[package] | {package}
    wrong = set()
    for name, _node in imported_modules(tree_of(path)):
        if name.startswith(OWN + 'module_utils.'):
            target = name[len(OWN + 'module_utils.'):].split('.')[0]
            if target not in allowed:
                wrong.add(target)
    assert not wrong, '%s (package %s) imports %s' % (relative(path), package, ', '.join(sorted(wrong)))


def test_package_init_files_are_empty():
    inits = [p for p in MODULE_UTILS_FILES if os.path.basename(p) == '__init__.py']
    assert len(inits) == len(LAYERS)
    assert [relative(p) for p in inits if os.path.getsize(p)] == []


def test_flat_module_utils_files_are_gone():
    assert [name for name in os.listdir(MODULE_UTILS) if name.endswith('.py')] == []


@pytest.mark.parametrize('path', MODULE_UTILS_FILES, ids=relative)
def test_files_and_classes_stay_small(path):
    with open(path) as handle:
        lines = handle.read().count('\n')
    assert lines <= MAX_FILE_LINES, '%s has %d lines' % (relative(path), lines)
    for node in ast.walk(tree_of(path)):
        if isinstance(node, ast.ClassDef):
            size = node.end_lineno - node.lineno + 1
            assert size <= MAX_CLASS_LINES, 'class %s of %s has %d lines' % (node.name, relative(path), size)


MODULE_FILES = sorted(p for p in ALL_PLUGIN_FILES if os.sep + 'modules' + os.sep in p)


@pytest.mark.parametrize('path', MODULE_FILES, ids=relative)
def test_a_module_file_only_builds_the_wrapper_and_runs_one_function(path):
    tree = tree_of(path)
    functions = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert functions == ['main'], '%s defines %s' % (relative(path), functions)
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef))
    assert len(main.body) == 1 and isinstance(main.body[0], ast.Expr), \
        'main() of %s is more than CloudModule(...).run(function)' % relative(path)
    call = main.body[0].value
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == 'run'
    assert isinstance(call.func.value, ast.Call) and getattr(call.func.value.func, 'id', None) == 'CloudModule'
    assert len(call.args) == 1 and isinstance(call.args[0], ast.Name), 'run() takes the package function by name'
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(node, ast.ImportFrom) and (node.module or '').startswith(OWN + 'module_utils.')
               or node.module == '__future__' for node in imports), 'a module imports only the collection\'s core'
