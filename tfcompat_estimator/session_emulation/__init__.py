"""The session world legacy code expects, emulated on TF2 function graphs."""
