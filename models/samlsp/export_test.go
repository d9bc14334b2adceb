package samlsp

// ValidateCrewjam is the crewjam reference path, for the differential tests.
var ValidateCrewjam = validateCrewjam
