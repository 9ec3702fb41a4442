"""Property-test theory claims: hypothesis strategies from a TheoryResult's validity region, and
statistical checks of a simulation against the prediction (see ``_claims`` for the full story)."""

from dyntheory.testing._claims import check_claim as check_claim
from dyntheory.testing._claims import configs as configs
from dyntheory.testing._claims import property_test as property_test
from dyntheory.testing._regions import Region as Region
