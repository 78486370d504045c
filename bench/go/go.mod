module straybench

go 1.19
