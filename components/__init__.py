"""ComponentResources for one Micro region: the Azure layer and the platform inside Kubernetes."""
