"""The public hosted pages: the opt-in form and the preference centre (URL namespace "consent").

Like the partner API, a face over the domain apps that no app imports; their HTML lives with the
consent app (`consent/templates/consent/`)."""
