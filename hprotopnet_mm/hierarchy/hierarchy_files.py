"""Reading hierarchy CSV files and label maps, with line numbers for error
messages (the format is described in :mod:`.class_hierarchy`)."""
import csv
from typing import List, Optional, Tuple


class HierarchyError(ValueError):
    """A malformed class hierarchy or one that does not match its data.

    The message names the file, the line (when known) and the class or node.
    """


def where(source: str, line: Optional[int] = None) -> str:
    """Format ``source`` and an optional 1-based line number for messages."""
    return source if line is None else f'{source}, line {line}'


def _read_lines(path: str) -> List[str]:
    """Read a UTF-8 text file as lines (any newline convention)."""
    with open(path, encoding='utf-8') as f:
        return f.read().split('\n')


def read_label_map_with_lines(path: str) -> Tuple[List[str], List[int]]:
    """Read a label map: one class name per line, index = line index.

    A final newline and blank lines at the end of the file are allowed.

    Args:
        path (str): The label map file.

    Returns:
        tuple[list[str], list[int]]: Class names and their line numbers.

    Raises:
        HierarchyError: On an empty file, a blank line between classes (it
            would shift all later labels), a name with leading or trailing
            whitespace, or a duplicate class.
    """
    lines = _read_lines(path)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise HierarchyError(f'{path}: the label map is empty')
    names, first_line = [], {}
    for number, name in enumerate(lines, start=1):
        here = where(path, number)
        if not name.strip():
            raise HierarchyError(
                f'{here}: blank line inside the label map (label index '
                'is the line index, so it would shift later classes)')
        if name != name.strip():
            raise HierarchyError(
                f'{here}: class name {name!r} has leading or trailing '
                'whitespace')
        if name in first_line:
            raise HierarchyError(
                f'{here}: class {name!r} is listed twice (first on line '
                f'{first_line[name]})')
        first_line[name] = number
        names.append(name)
    return names, list(range(1, len(names) + 1))


def read_hierarchy_table(
        path: str) -> Tuple[List[str], int, List[List[str]], List[int]]:
    """Split a hierarchy CSV file into header and rows.

    Comment lines (``#``) and blank lines are skipped.

    Args:
        path (str): The hierarchy CSV file.

    Returns:
        tuple: ``(header, header_line, rows, row_lines)``.
    """
    header, header_line, rows, row_lines = None, None, [], []
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        try:
            cells = next(csv.reader([line], strict=True))
        except csv.Error as e:
            raise HierarchyError(
                f'{where(path, number)}: cannot parse CSV line: {e}')
        if header is None:
            header, header_line = cells, number
        else:
            rows.append(cells)
            row_lines.append(number)
    if header is None:
        raise HierarchyError(
            f'{path}: the hierarchy file is empty (no header, no rows)')
    return header, header_line, rows, row_lines
