from django import template

register = template.Library()


@register.simple_tag
def page_url(cl, number: int) -> str:
    """The changelist URL for page `number`, keeping the current filters and search."""
    return cl.get_query_string({"p": number})
