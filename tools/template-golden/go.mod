module connectors/tools/template-golden

go 1.22
