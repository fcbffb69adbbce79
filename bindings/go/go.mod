module numballoc

go 1.19
