"""An Athena (Trino) SQL backend for pySigma whose values are bound parameters, never SQL text.

Each value becomes a marker while pySigma assembles the condition; :meth:`AthenaBackend.bind`
then turns the markers into ``?`` in text order and returns the values in the same order.
Every leaf is two-valued (``COALESCE(…, false)``), so ``not`` keeps events lacking a field, as Sigma means.
"""
from __future__ import annotations

import re
from typing import Any, ClassVar

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.deferred import DeferredQueryExpression
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import (
    SigmaBool, SigmaCasedString, SigmaCIDRExpression, SigmaCompareExpression, SigmaFieldReference, SigmaNumber,
    SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaString,
)

_MARK = re.compile("\x1f(\\d+)\x1f")
_FLAGS = {SigmaRegularExpressionFlag.IGNORECASE: "i", SigmaRegularExpressionFlag.MULTILINE: "m",
          SigmaRegularExpressionFlag.DOTALL: "s"}


class BlockedError(SigmaFeatureNotSupportedByBackendError):
    """A field/modifier combination this backend cannot express; ``modifier`` names the modifier.

    Parameters
    ----------
    message
        Why the rule cannot be expressed.
    modifier
        The Sigma modifier that blocks it (``None``: not a modifier).

    Examples
    --------
    >>> BlockedError("IPv6 networks are not supported.", "cidr").modifier
    'cidr'
    """

    def __init__(self, message: str, modifier: str | None = None) -> None:
        self.modifier = modifier
        super().__init__(message)


class AthenaBackend(TextQueryBackend):
    """Sigma → Athena SQL ``WHERE`` condition over ``cloud_trail_mgmt`` with ``?`` placeholders.

    The ``convert_condition_*`` methods are pySigma's hooks for each kind of detection item;
    :meth:`bind` turns the converted text's value markers into ``?`` and their values.

    Parameters
    ----------
    *args, **kwargs
        Those of ``TextQueryBackend``: the processing pipeline first
        (:func:`~slake_forensics.analysis.sigma.mapping.cloudtrail_pipeline`).

    Examples
    --------
    >>> from sigma.collection import SigmaCollection
    >>> from slake_forensics.analysis.sigma.mapping import cloudtrail_pipeline
    >>> backend = AthenaBackend(cloudtrail_pipeline())
    >>> rules = SigmaCollection.from_yaml(
    ...     "title: t\\nlogsource: {product: aws, service: cloudtrail}\\n"
    ...     "detection: {sel: {eventName: [CreateUser, CreateAccessKey]}, condition: sel}\\n")
    >>> condition, params = backend.bind(backend.convert(rules)[0])
    >>> print(condition)
    COALESCE(lower(api.operation) IN (?, ?), false)
    >>> params
    ['createuser', 'createaccesskey']
    """

    name: ClassVar[str] = "Security Lake Athena SQL"
    formats: ClassVar[dict[str, str]] = {"default": "WHERE condition with bound values"}
    precedence: ClassVar[tuple[type, type, type]] = (ConditionNOT, ConditionAND, ConditionOR)
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.values: list[Any] = []

    def _p(self, value: Any) -> str:
        self.values.append(value)
        return f"\x1f{len(self.values) - 1}\x1f"

    def bind(self, text: str) -> tuple[str, list[Any]]:
        """``(text with ?, values in order)`` of a converted condition.

        Parameters
        ----------
        text
            A condition this backend converted (its values are markers).

        Returns
        -------
        (str, list)
            The condition with ``?`` placeholders and their values, in text order.

        Examples
        --------
        >>> from sigma.collection import SigmaCollection
        >>> from slake_forensics.analysis.sigma.mapping import cloudtrail_pipeline
        >>> backend = AthenaBackend(cloudtrail_pipeline())
        >>> text = backend.convert(SigmaCollection.from_yaml(
        ...     "title: t\\nlogsource: {product: aws, service: cloudtrail}\\n"
        ...     "detection: {sel: {eventName: ConsoleLogin}, condition: sel}\\n"))[0]
        >>> backend.bind(text)
        ('COALESCE(lower(api.operation) = ?, false)', ['consolelogin'])
        """
        params = [self.values[int(m[1])] for m in _MARK.finditer(text)]
        return _MARK.sub("?", text), params

    def _string(self, field: str, value: SigmaString, cased: bool) -> str:
        target = field if cased else f"lower({field})"
        if value.contains_special():
            pattern = value.convert(escape_char="\\", wildcard_multi="%", wildcard_single="_", add_escaped="\\")
            return f"COALESCE({target} LIKE {self._p(pattern if cased else pattern.lower())} ESCAPE '\\', false)"
        plain = value.convert(escape_char=None, wildcard_multi=None, wildcard_single=None)
        return f"COALESCE({target} = {self._p(plain if cased else plain.lower())}, false)"

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaString)
        return self._string(cond.field, cond.value, False)

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: ConditionFieldEqualsValueExpression,
                                                          state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaString)
        return self._string(cond.field, cond.value, True)

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        return f"COALESCE({cond.field} = {self._p(str(cond.value))}, false)"

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaBool)
        return f"COALESCE(lower({cond.field}) = {self._p('true' if cond.value.boolean else 'false')}, false)"

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaRegularExpression)
        flags = "".join(sorted(_FLAGS[f] for f in cond.value.flags))
        pattern = (f"(?{flags})" if flags else "") + str(cond.value.regexp)
        return f"COALESCE(regexp_like({cond.field}, {self._p(pattern)}), false)"

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaCIDRExpression)
        net = cond.value.network
        if net.version != 4:
            raise BlockedError(f"Modifier cidr: IPv6 network {net} is not supported; use startswith on the address.", "cidr")
        e = cond.field
        number = " + ".join(f"try_cast(split_part({e}, '.', {i + 1}) AS bigint) * {256 ** (3 - i)}" for i in range(4))
        low, high = int(net.network_address), int(net.broadcast_address)
        return (f"COALESCE(regexp_like({e}, '^[0-9]{{1,3}}([.][0-9]{{1,3}}){{3}}$') AND ({number}) "
                f"BETWEEN {self._p(low)} AND {self._p(high)}, false)")

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaCompareExpression)
        op = {SigmaCompareExpression.CompareOperators.LT: "<", SigmaCompareExpression.CompareOperators.LTE: "<=",
              SigmaCompareExpression.CompareOperators.GT: ">", SigmaCompareExpression.CompareOperators.GTE: ">="}.get(cond.value.op)
        if op is None:
            raise BlockedError(f"Comparison {cond.value.op} is not supported.", "neq")
        return f"COALESCE(try_cast({cond.field} AS double) {op} {self._p(float(cond.value.number.number))}, false)"

    def convert_condition_field_eq_val_null(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        return f"{cond.field} IS NULL"

    def convert_condition_field_exists(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        return f"{cond.field} IS NOT NULL"

    def convert_condition_field_not_exists(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        return f"{cond.field} IS NULL"

    field_not_exists_expression: ClassVar[str] = "{field} IS NULL"
    field_exists_expression: ClassVar[str] = "{field} IS NOT NULL"

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> str | DeferredQueryExpression:
        # pySigma asks for OR conditions only (convert_and_as_in is False); each argument is a field = value item
        args = [a for a in cond.args if isinstance(a, ConditionFieldEqualsValueExpression)]
        values = [a.value for a in args if isinstance(a.value, SigmaString | SigmaNumber)]
        cased = {isinstance(v, SigmaCasedString) for v in values}
        if not isinstance(cond, ConditionOR) or len(values) != len(cond.args) or len(cased) != 1:
            joined = self.convert_condition_or(cond, state) if isinstance(cond, ConditionOR) else self.convert_condition_and(cond, state)
            assert joined is not None  # None only when every item converts to nothing; each of these converts to text
            return joined
        is_cased = cased.pop()
        field = args[0].field
        items = []
        for v in values:
            text = str(v) if isinstance(v, SigmaNumber) else v.convert(escape_char=None, wildcard_multi=None, wildcard_single=None)
            items.append(self._p(text if is_cased else text.lower()))
        target = field if is_cased else f"lower({field})"
        return f"COALESCE({target} IN ({', '.join(items)}), false)"

    def convert_condition_val_str(self, cond: Any, state: ConversionState) -> str:
        raise BlockedError("Keyword searches (values without a field) are not supported; name a CloudTrail field.")

    convert_condition_val_num = convert_condition_val_str
    convert_condition_val_re = convert_condition_val_str

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        ref = cond.value
        assert isinstance(ref, SigmaFieldReference)
        if ref.starts_with or ref.ends_with:
            raise BlockedError("fieldref with startswith/endswith/contains is not supported.", "fieldref")
        # the pipeline's field transformation has already mapped the referenced field to its SQL
        return f"COALESCE(lower({cond.field}) = lower({ref.field}), false)"
